package rcatrain

// SimScenarios is the number of simulated faults cmd/gnntrain trains on.
const SimScenarios = 0

// SimExamples simulates n faults and returns their scored windows.
func SimExamples(n int, seed uint64, s Settings) ([]Labeled, error) { return nil, nil }
