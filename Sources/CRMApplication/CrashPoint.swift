import Foundation

/// Places where the daemon can be made to die on purpose, so that tests of crash recovery stop the
/// real process exactly there, with `SIGKILL`, instead of hoping to land a signal at the right moment.
/// A point fires only when the environment variable `CRMD_TEST_CRASH_AT` names it when crmd starts;
/// otherwise it costs one comparison.
enum CrashPoint: String {
    /// Right after a batch with an erasure committed, before the erasure's keys are deleted: the
    /// state the start-up repair finishes.
    case afterErasureCommit = "after-erasure-commit"
    /// Right after the first chunk of a refold of the decision state committed, before the refold
    /// ends: a refold cut short, which the next start does again from scratch.
    case duringRefold = "during-refold"

    /// The point `CRMD_TEST_CRASH_AT` names, read once.
    private static let armed = ProcessInfo.processInfo.environment["CRMD_TEST_CRASH_AT"].flatMap(CrashPoint.init)

    /// Kills this process at once when `self` is the armed point.
    func reached() {
        guard CrashPoint.armed == self else { return }
        kill(getpid(), SIGKILL)
    }
}
