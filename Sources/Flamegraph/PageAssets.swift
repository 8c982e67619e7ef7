/// The inline CSS and JavaScript of the flamegraph page.
enum PageAssets {
    /// Installed first, in <head>, so that even a syntax error in the main script is
    /// reported as `document.body.dataset.error` (the browser tests read it).
    static let errorHandlers = #"""
        (function () {
          function report(message) {
            var target = document.body || document.documentElement;
            target.dataset.error = String(message);
          }
          window.onerror = function (message, source, line) { report(message + (line ? ' (line ' + line + ')' : '')); };
          window.addEventListener('unhandledrejection', function (event) {
            report('unhandled rejection: ' + (event.reason && event.reason.message || event.reason));
          });
        })();
        """#

    static let css = #"""
        :root { color-scheme: light; }
        * { box-sizing: border-box; }
        body { margin: 0; padding: 12px 16px 32px; color: #1f2328; background: #fff;
          font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
        header h1 { font-size: 20px; margin: 0 0 2px; }
        header p { margin: 0; color: #57606a; }
        dl.details { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; font-size: 13px; }
        dl.details dt { color: #57606a; } dl.details dd { margin: 0; font-family: ui-monospace, monospace; }
        nav.views { margin: 6px 0; font-size: 14px; }
        .toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; margin: 10px 0 4px; }
        .toolbar input[type=search] { width: 22em; max-width: 100%; padding: 4px 8px; font: inherit;
          border: 1px solid #8c959f; border-radius: 4px; }
        .toolbar input.bad { border-color: #cf222e; background: #fff0f0; }
        button { font: inherit; padding: 3px 10px; border: 1px solid #8c959f; border-radius: 4px;
          background: #f6f8fa; cursor: pointer; }
        button:disabled { cursor: default; color: #8c959f; }
        #match { color: #8250df; font-weight: 600; }
        .legend { margin-left: auto; color: #57606a; font-size: 12px; }
        .legend i { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 8px; border-radius: 2px; vertical-align: -1px; }
        .legend .user { background: hsl(24, 90%, 60%); }
        .legend .kernel { background: hsl(205, 65%, 65%); }
        .legend .python { background: hsl(110, 50%, 55%); }
        .legend .hit { background: #d55fde; }
        .zoomed { margin: 0 0 4px; min-height: 1.4em; color: #57606a; font-size: 12px;
          white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        #graph { position: relative; width: 100%; border: 1px solid #d0d7de; border-radius: 4px; overflow: hidden; }
        #flame { display: block; cursor: pointer; }
        .empty { margin: 0; padding: 48px 0; text-align: center; font-size: 18px; color: #57606a; }
        .tip { position: fixed; z-index: 10; max-width: min(640px, 90vw); padding: 6px 9px; pointer-events: none;
          background: rgba(255, 255, 255, 0.97); border: 1px solid #8c959f; border-radius: 4px;
          box-shadow: 0 2px 8px rgba(0, 0, 0, 0.18); font-size: 12px; }
        .tip .fn { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-weight: 600;
          word-break: break-all; }
        .tip .kind { color: #57606a; }
        h2 { font-size: 16px; margin: 20px 0 6px; }
        table { border-collapse: collapse; font-size: 13px; }
        th, td { padding: 3px 10px; border-bottom: 1px solid #d8dee4; text-align: right; white-space: nowrap; }
        th { background: #f6f8fa; }
        th.name, td.name { text-align: left; }
        td.name { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; white-space: normal;
          word-break: break-all; max-width: 70vw; }
        tbody tr[data-name] { cursor: pointer; }
        tbody tr[data-name]:hover { background: #f3e8ff; }
        .tag { font: 11px sans-serif; padding: 0 4px; border-radius: 3px; background: hsl(205, 65%, 80%); }
        .none { text-align: center; color: #57606a; }
        """#

    /// Reads the tree from #flame-data and draws it. Root at the top (icicle layout):
    /// each row is one stack depth, a frame's width is its share of the zoomed frame.
    static let script = #"""
        (function () {
          'use strict';
          var started = performance.now();
          var body = document.body;
          var data = JSON.parse(document.getElementById('flame-data').textContent);
          var names = data.names, raw = data.nodes, N = raw.length / 3;

          // The tree, pre-order in typed arrays: node i's children are i + 1, then each
          // next sibling is the previous one plus its subtree size.
          var nameOf = new Int32Array(N), kind = new Uint8Array(N), total = new Float64Array(N),
              kids = new Int32Array(N), size = new Int32Array(N), depth = new Int32Array(N),
              parent = new Int32Array(N);
          var KIND_USER = 0, KIND_KERNEL = 1, KIND_MERGED = 2, KIND_ROOT = 3, KIND_PYTHON = 4;
          var open = [], left = [];
          for (var i = 0; i < N; i++) {
            nameOf[i] = Math.floor(raw[3 * i] / 8); kind[i] = raw[3 * i] % 8;
            total[i] = raw[3 * i + 1]; kids[i] = raw[3 * i + 2]; size[i] = 1;
            if (open.length) {
              var p = open[open.length - 1];
              parent[i] = p; depth[i] = depth[p] + 1; left[left.length - 1]--;
            } else {
              parent[i] = -1;
            }
            if (kids[i] > 0) { open.push(i); left.push(kids[i]); }
            while (open.length && left[left.length - 1] === 0) {
              var done = open.pop(); left.pop(); size[done] = i + 1 - done;
            }
          }

          var ROW = 18, MIN_WIDTH = 0.5, LABEL_MIN = 22;
          var FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';
          var graph = document.getElementById('graph'), canvas = document.getElementById('flame');
          var ctx = canvas.getContext('2d');
          var tip = document.getElementById('tip'), resetButton = document.getElementById('reset');
          var searchBox = document.getElementById('search'), regexBox = document.getElementById('regex');
          var matchLabel = document.getElementById('match'), zoomLabel = document.getElementById('zoomed');
          var zoom = 0, matched = null, lowerNames = null, drawn = 0, width = 0, charWidth = 7;

          function fmt(n) { return Math.round(n).toLocaleString('en-US'); }
          // A width in the page's unit (body data-unit): samples, nanoseconds (shown as ms) or events.
          var unit = body.dataset.unit || 'samples';
          function amount(n) {
            if (unit === 'nanoseconds') { var ms = n / 1e6; return (ms >= 100 ? fmt(ms) : ms.toFixed(ms >= 1 ? 2 : 3)) + ' ms'; }
            return fmt(n) + (unit === 'events' ? (Math.round(n) === 1 ? ' event' : ' events') : ' samples');
          }
          function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(2) + '%' : '0.00%'; }

          // Colours: deterministic per name (FNV-1a); warm for user code, blue for kernel.
          var colours = new Map();
          function hash(text) {
            var h = 2166136261;
            for (var j = 0; j < text.length; j++) { h ^= text.charCodeAt(j); h = Math.imul(h, 16777619); }
            return h >>> 0;
          }
          function colour(i) {
            var k = kind[i], n = nameOf[i];
            if (k === KIND_ROOT) return '#c9ccd1';
            if (k === KIND_MERGED) return '#d5d8dc';
            if (matched) {
              if (matched[n]) return '#d55fde';
              return k === KIND_KERNEL ? '#dde3ea' : '#e6e1dc';
            }
            var key = n * 8 + k, c = colours.get(key);
            if (c === undefined) {
              var h = hash(names[n]), a = (h & 0xffff) / 0xffff, b = (h >>> 16) / 0xffff;
              c = k === KIND_KERNEL
                ? 'hsl(' + (190 + 35 * a).toFixed(1) + ',' + (55 + 20 * b).toFixed(1) + '%,' + (62 + 12 * b).toFixed(1) + '%)'
                : k === KIND_PYTHON
                ? 'hsl(' + (90 + 40 * a).toFixed(1) + ',' + (45 + 20 * b).toFixed(1) + '%,' + (52 + 12 * b).toFixed(1) + '%)'
                : 'hsl(' + (5 + 50 * a).toFixed(1) + ',' + (80 + 15 * b).toFixed(1) + '%,' + (56 + 10 * b).toFixed(1) + '%)';
              colours.set(key, c);
            }
            return c;
          }

          function label(text, room) {
            var fit = Math.floor(room / charWidth);
            if (fit < 2) return '';
            if (text.length > fit) text = text.slice(0, fit - 1) + '\u2026';
            while (text.length > 1 && ctx.measureText(text).width > room) text = text.slice(0, text.length - 2) + '\u2026';
            return text.length > 1 ? text : '';
          }

          function box(i, x, w, faded) {
            var y = depth[i] * ROW;
            ctx.globalAlpha = faded ? 0.55 : 1;
            ctx.fillStyle = colour(i);
            ctx.fillRect(x, y, w >= 2 ? w - 1 : w, ROW - 1);
            drawn++;
            if (w >= LABEL_MIN) {
              var text = label(names[nameOf[i]], w - 7);
              if (text) { ctx.fillStyle = '#111'; ctx.fillText(text, x + 3, y + ROW / 2); }
            }
          }

          // Draws node i at x and its descendants; runs of siblings narrower than
          // MIN_WIDTH are drawn as one grey block when together they are visible.
          function drawTree(i, x, scale) {
            box(i, x, total[i] * scale, false);
            var cx = x, runX = 0, runW = 0, c = i + 1;
            for (var j = 0; j < kids[i]; j++, c += size[c]) {
              var w = total[c] * scale;
              if (w >= MIN_WIDTH) {
                if (runW >= 1) tiny(c, runX, runW);
                runW = 0;
                drawTree(c, cx, scale);
              } else {
                if (runW === 0) runX = cx;
                runW += w;
              }
              cx += w;
            }
            if (runW >= 1) tiny(i + 1, runX, runW);
          }
          function tiny(sibling, x, w) {
            ctx.globalAlpha = 1; ctx.fillStyle = '#d5d8dc';
            ctx.fillRect(x, depth[sibling] * ROW, w >= 2 ? w - 1 : w, ROW - 1);
            drawn++;
          }

          // The deepest row drawTree(i, ..., scale) would draw (tiny runs estimated).
          function deepest(i, scale) {
            var d = depth[i], tinyWidth = 0, c = i + 1;
            for (var j = 0; j < kids[i]; j++, c += size[c]) {
              var w = total[c] * scale;
              if (w >= MIN_WIDTH) d = Math.max(d, deepest(c, scale)); else tinyWidth += w;
            }
            return tinyWidth >= 1 ? Math.max(d, depth[i] + 1) : d;
          }

          function draw() {
            width = graph.clientWidth;
            var scale = width / total[zoom], rows = deepest(zoom, scale) + 1;
            var height = rows * ROW, ratio = window.devicePixelRatio || 1;
            canvas.style.width = width + 'px';
            canvas.style.height = height + 'px';
            canvas.width = Math.round(width * ratio);
            canvas.height = Math.round(height * ratio);
            ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
            ctx.clearRect(0, 0, width, height);
            ctx.font = FONT;
            ctx.textBaseline = 'middle';
            charWidth = ctx.measureText('mmmmmmmmmm').width / 10 || 7;
            drawn = 0;
            for (var a = parent[zoom]; a >= 0; a = parent[a]) box(a, 0, width, true);
            drawTree(zoom, 0, scale);
            ctx.globalAlpha = 1;
            resetButton.disabled = zoom === 0;
            zoomLabel.textContent = zoom === 0 ? 'Click a frame to zoom in; click the top row, Reset zoom or Esc to zoom out.'
              : 'Zoomed into ' + names[nameOf[zoom]] + ' \u2014 ' + amount(total[zoom]) + ', ' + pct(total[zoom], total[0]) + ' of total';
          }

          var pending = 0;
          function redraw() {
            if (!pending && total[0] > 0) pending = requestAnimationFrame(function () { pending = 0; draw(); });
          }

          // The node under canvas point (x, y), or -1.
          function nodeAt(x, y) {
            var d = Math.floor(y / ROW);
            if (d < 0 || x < 0 || x >= width) return -1;
            if (d <= depth[zoom]) {
              var a = zoom;
              while (depth[a] > d) a = parent[a];
              return a;
            }
            var scale = width / total[zoom], i = zoom, left = 0;
            while (depth[i] < d) {
              var c = i + 1, found = -1;
              for (var j = 0; j < kids[i]; j++, c += size[c]) {
                var w = total[c] * scale;
                if (x < left + w) { found = c; break; }
                left += w;
              }
              if (found < 0 || (total[found] * scale < MIN_WIDTH && depth[found] < d)) return -1;
              i = found;
            }
            return i;
          }

          function search() {
            var text = searchBox.value;
            searchBox.classList.remove('bad');
            matchLabel.textContent = '';
            matched = null;
            if (text) {
              var test;
              if (regexBox.checked) {
                var re;
                try { re = new RegExp(text, 'i'); } catch (e) {
                  searchBox.classList.add('bad'); matchLabel.textContent = 'invalid regex'; redraw(); return;
                }
                test = function (n) { return re.test(names[n]); };
              } else {
                if (!lowerNames) lowerNames = names.map(function (s) { return s.toLowerCase(); });
                var needle = text.toLowerCase();
                test = function (n) { return lowerNames[n].indexOf(needle) >= 0; };
              }
              matched = new Uint8Array(names.length);
              for (var n = 0; n < names.length; n++) matched[n] = test(n) ? 1 : 0;
              // Samples under a matching frame, each counted once (skip matched subtrees).
              var sum = 0;
              for (var i = 1; i < N;) {
                if (kind[i] !== KIND_MERGED && matched[nameOf[i]]) { sum += total[i]; i += size[i]; } else i++;
              }
              matchLabel.textContent = 'Matched: ' + pct(sum, total[0]) + (unit === 'samples' ? ' of samples (' + fmt(sum) : ' of the total (' + amount(sum)) + ')';
            }
            redraw();
          }

          function showTip(i, clientX, clientY) {
            tip.textContent = '';
            function line(cls, text) {
              var div = document.createElement('div');
              if (cls) div.className = cls;
              div.textContent = text;
              tip.appendChild(div);
            }
            var k = kind[i], selfCount = total[i], c = i + 1;
            for (var j = 0; j < kids[i]; j++, c += size[c]) selfCount -= total[c];
            line('fn', names[nameOf[i]]);
            line('kind', k === KIND_KERNEL ? 'kernel' : k === KIND_USER ? 'user' : k === KIND_PYTHON ? 'python' : k === KIND_ROOT ? 'all' : 'small frames merged');
            line('', (unit === 'samples' ? 'Samples: ' + fmt(total[i]) : 'Total: ' + amount(total[i])) + ' (' + pct(total[i], total[0]) + ' of total)');
            if (zoom !== 0 && depth[i] >= depth[zoom]) line('', pct(total[i], total[zoom]) + ' of zoomed frame');
            if (parent[i] >= 0) line('', pct(total[i], total[parent[i]]) + ' of parent');
            line('', 'Self: ' + amount(selfCount) + ' (' + pct(selfCount, total[0]) + ')');
            tip.hidden = false;
            var tx = clientX + 14, ty = clientY + 14;
            if (tx + tip.offsetWidth > window.innerWidth - 4) tx = Math.max(4, clientX - tip.offsetWidth - 14);
            if (ty + tip.offsetHeight > window.innerHeight - 4) ty = Math.max(4, clientY - tip.offsetHeight - 14);
            tip.style.left = tx + 'px';
            tip.style.top = ty + 'px';
          }

          function eventNode(event) {
            var r = canvas.getBoundingClientRect();
            return nodeAt(event.clientX - r.left, event.clientY - r.top);
          }
          canvas.addEventListener('mousemove', function (event) {
            var i = eventNode(event);
            if (i < 0) { tip.hidden = true; canvas.style.cursor = 'default'; return; }
            canvas.style.cursor = 'pointer';
            showTip(i, event.clientX, event.clientY);
          });
          canvas.addEventListener('mouseleave', function () { tip.hidden = true; });
          canvas.addEventListener('click', function (event) {
            var i = eventNode(event);
            if (i >= 0 && i !== zoom) { zoom = i; tip.hidden = true; draw(); }
          });
          resetButton.addEventListener('click', function () { zoom = 0; draw(); });
          var searchTimer = 0;
          searchBox.addEventListener('input', function () { clearTimeout(searchTimer); searchTimer = setTimeout(search, 120); });
          regexBox.addEventListener('change', search);
          document.addEventListener('keydown', function (event) {
            if (event.key === 'Escape') {
              if (document.activeElement === searchBox && searchBox.value) { searchBox.value = ''; search(); }
              if (zoom !== 0) { zoom = 0; draw(); }
            } else if (event.key === '/' && document.activeElement !== searchBox) {
              event.preventDefault(); searchBox.focus();
            }
          });
          // Clicking a row of the table searches for exactly that function.
          document.querySelector('#top tbody').addEventListener('click', function (event) {
            var row = event.target.closest('tr[data-name]');
            if (!row) return;
            regexBox.checked = true;
            searchBox.value = '^' + row.dataset.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$';
            search();
            graph.scrollIntoView({ block: 'nearest' });
          });
          window.addEventListener('resize', redraw);

          if (!(total[0] > 0)) {
            canvas.hidden = true;
            document.getElementById('empty').hidden = false;
            searchBox.disabled = true;
            zoomLabel.textContent = '';
            drawn = 0;
          } else {
            draw();
          }
          body.dataset.rendered = String(drawn);
          body.dataset.renderMs = (performance.now() - started).toFixed(1);
        })();
        """#
}
