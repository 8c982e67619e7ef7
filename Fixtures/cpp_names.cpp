// C++ functions with Itanium-mangled names (namespaces, overloads, templates),
// for demangling tests.
#define NOINLINE __attribute__((noinline))

volatile int cpp_sink;

namespace fixture {
namespace deep {
struct Widget {
    NOINLINE int spin(int n) const;
    NOINLINE static void reset();
};
NOINLINE int Widget::spin(int n) const { for (int i = 0; i < n; i++) cpp_sink += i; return cpp_sink; }
NOINLINE void Widget::reset() { cpp_sink = 0; }
}  // namespace deep

template <typename T>
NOINLINE T accumulate(T start, int n) { for (int i = 0; i < n; i++) start += T(i); return start; }

NOINLINE int overloaded(int x) { return x + cpp_sink; }
NOINLINE double overloaded(double x) { return x * cpp_sink; }
}  // namespace fixture

int main(int argc, char **)
{
    fixture::deep::Widget w;
    fixture::deep::Widget::reset();
    int a = w.spin(argc);
    long b = fixture::accumulate<long>(a, argc);
    double c = fixture::accumulate<double>(fixture::overloaded(1.5), argc);
    return (int)(b + fixture::overloaded(a) + c) & 1;
}
