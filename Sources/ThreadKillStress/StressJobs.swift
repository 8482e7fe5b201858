import ThreadKill

/// The child-process job of the ``StressMethod/process`` method.
public enum StressJobs {
    /// Spins through `iterations` rounds of arithmetic and returns the result:
    /// short inputs finish by themselves, long ones are terminated.
    public static let spin = IsolatedJob<Int, UInt64>("threadkill.stress.spin")

    /// What ``spin`` computes; the parent checks a job that finished returned exactly this.
    public static func spinResult(_ iterations: Int) -> UInt64 {
        var x = UInt64(truncatingIfNeeded: iterations)
        for _ in 0..<iterations { x = Bodies.mix(x) }
        return x
    }

    /// Registers the stress jobs. Call it in the executable that runs stress
    /// runs with the process method, before ``ThreadKill/IsolatedProcess/runWorkerIfRequested()``.
    public static func register() {
        IsolatedProcess.register(spin.name) { (iterations: Int) -> UInt64 in spinResult(iterations) }
    }
}
