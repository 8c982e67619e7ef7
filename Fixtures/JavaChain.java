// A Java program with known stacks, for the JIT perf-map tests (built by `make fixtures`).
//
//   java -XX:+PreserveFramePointer -XX:CompileCommand=quiet \
//        -XX:CompileCommand=dontinline,JavaChain::* -cp .build/fixtures JavaChain SECONDS
//   then: jcmd PID Compiler.perfmap   (writes /tmp/perf-PID.map)
//
// main -> handleRequest -> parse -> hotLoop (3 requests of 4) / coldLoop (1 of 4), the same work
// each. dontinline keeps every method its own frame once compiled; PreserveFramePointer lets
// compiled frames be walked with frame pointers.
public final class JavaChain {
    static final int WORK = 200_000;

    static long hotLoop(int n) {
        long total = 0;
        for (int i = 0; i < n; i++) total += (long) i * i % 7;
        return total;
    }

    static long coldLoop(int n) {
        long total = 0;
        for (int i = 0; i < n; i++) total += (long) i * i % 7;
        return total;
    }

    static long parse(int k) {
        return k % 4 == 3 ? coldLoop(WORK) : hotLoop(WORK);
    }

    static long handleRequest(int k) {
        return parse(k);
    }

    public static void main(String[] args) {
        long deadline = System.nanoTime() + Long.parseLong(args.length > 0 ? args[0] : "10") * 1_000_000_000L;
        long sum = 0;
        int k = 0;
        while (System.nanoTime() < deadline) sum += handleRequest(k++);
        System.out.println(sum);
    }
}
