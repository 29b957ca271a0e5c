//go:build race

package train

// raceEnabled: the race detector makes sync.Pool drop items, so steady-state
// allocation counts do not apply.
const raceEnabled = true
