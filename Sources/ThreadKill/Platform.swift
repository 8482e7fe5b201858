// ThreadKill is built on Linux signals, futexes, pidfds and /proc, and on
// glibc's pthread extensions. Say so at once, not deep in the C shim.
#if !os(Linux)
#error("ThreadKill supports Linux only (glibc 2.34 or later); see README, Requirements.")
#endif
