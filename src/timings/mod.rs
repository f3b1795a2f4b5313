//! How long do tests take? Import JUnit / `.test_durations` / our store, estimate unknowns.
