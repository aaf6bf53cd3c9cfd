//go:build cgo && !windows

// sibling.go: a batch size whose steps come rarely (an epoch's last,
// partial batch: engine.OccasionalSteps) takes the choices the training's
// batch settled instead of timing its own. Its recording is replayed once
// an epoch (96 images at the default batch of 128: ten times a default
// run), while timing its alternatives in place takes about eight replays
// of each, so its timing never ended, no process remembered it as
// settled, and every process recorded and timed its alternatives again
// (kernels/NOTES.md, runs 14–16). Now, outside recordings, a direction of
// such a batch whose choice is not settled takes the final choice of the
// same direction of the same shape at the training's batch size: our
// conv3 kernel, or the same cuDNN algorithm where this shape's plan
// offers it as an alternative, or the same cuBLASLt algorithm; it is then
// settled in this process (adopted), not remembered as settled: a later
// process takes it again where the batch is occasional there too. Where
// the training batch's choice is not on offer at this batch size (cuDNN's
// close algorithms and cuBLASLt's heuristic differ between batch sizes on
// a real GPU: runs 17–18's warm runs still recorded five alternatives of
// the batch of 96 and timed eight of its steps, never finishing), the
// direction keeps its own plan's first choice, settled alike: timing it
// could not end in the few steps it gets. Only where the training batch's
// choice is not final yet is the direction timed as before. Batch sizes
// not marked occasional (another configuration of a study on the same
// engine, an evaluation's) time their own, also after an occasional run
// took choices for them.

package cuda

import "slices"

// SetOccasional sets the keys (batch sizes) whose steps come rarely and
// the batch size whose choices they take (engine.OccasionalSteps),
// replacing those set before. Directions that took another batch size's
// choices under the marks replaced are no longer settled, and their keys'
// recordings are dropped: a batch size that is no longer occasional (the
// next configuration of a study on this engine) times its own.
func (e *Engine) SetOccasional(from int, keys ...int) {
	clear(e.occasional)
	for _, k := range keys {
		e.occasional[k] = true
	}
	// Another batch size to take from (a study's next configuration,
	// whose partial batch may be the same size) replaces every mark.
	same := from == e.occasionalFrom
	e.occasionalFrom = from
	for pd := range e.adopted {
		if same && e.occasional[pd.s.N] {
			continue
		}
		delete(e.adopted, pd)
		delete(e.settled, pd)
		delete(e.restored, pd)
		delete(e.convOwn, pd)
		delete(e.fusedOn, pd)
		e.drop(pd.s.N)
	}
}

// sibling returns, where pd's batch size is occasional, the direction pd
// of the same shape at the batch size its choices come from (SetOccasional)
// where that choice is final (settled, and not being timed now), or false.
func (e *Engine) sibling(pd planDir) (planDir, bool) {
	if !e.occasional[pd.s.N] || e.occasionalFrom <= 0 || e.occasionalFrom == pd.s.N {
		return planDir{}, false
	}
	q := pd
	q.s.N = e.occasionalFrom
	if !e.settled[q] || e.adopted[q] || e.timing(q) {
		return planDir{}, false
	}
	return q, true
}

// timing reports whether pd is one of the directions a tuner has still to
// settle (newTuner marks the directions it times settled when it starts).
func (e *Engine) timing(pd planDir) bool {
	for _, t := range e.tuners {
		if t.phase >= 0 && t.phase < len(t.dirs) && slices.Contains(t.dirs[t.phase:], pd) {
			return true
		}
	}
	return false
}

// adoptConv settles convolution direction pd, of plan cv (prepared), where
// it has a sibling: with the sibling's choice where cv can take it, else
// with cv's own.
func (e *Engine) adoptConv(pd planDir, cv convPlan) {
	sib, ok := e.sibling(pd)
	if !ok {
		return
	}
	// Where the sibling's choice cannot be taken, cv keeps its own (its
	// search's fastest, or what an earlier process's search restored).
	switch sc := e.convs[sib.s]; {
	case e.convOwn[sib]:
		if e.conv == convTimed && e.conv3Block(pd.s, pd.dir) > 0 {
			e.convOwn[pd] = true
		} // else: our kernel cannot take this shape
	case sc != nil && sc.Prepared(pd.dir):
		if a := sc.Algo(pd.dir); a != cv.Algo(pd.dir) && slices.Contains(cv.Alternatives(pd.dir), a) {
			e.fail(cv.Use(pd.dir, a)) // cuDNN refusing its own algorithm's math type: the run's error
		} // else: not on offer here
	}
	// No alternative is timed: the workspace is the algorithm's own
	// (plan), as for a choice an earlier process settled. Not
	// remembered as settled (the search's result is): a later process
	// takes it again where the batch size is occasional there too, and
	// times it where it is not.
	e.settled[pd], e.restored[pd], e.adopted[pd] = true, true, true
}

// adoptDense settles dense direction pd, of plan p, with its sibling's
// choice where there is one: fused, with the sibling's algorithm where p
// offers it and else with p's own (the heuristic's first for a new plan),
// or apart.
func (e *Engine) adoptDense(pd planDir, p gemmPlan) {
	sib, ok := e.sibling(pd)
	if !ok {
		return
	}
	if e.dense == denseLt || e.fusedOn[sib] {
		if sp := e.gemmDir[sib]; sp != nil {
			if i := algoIndex(p, sp.AlgoID(sp.Algo())); i >= 0 {
				p.Use(i)
			} // else: not on offer here
		}
		if e.dense == denseTimed {
			e.fusedOn[pd] = true
		}
	}
	e.settled[pd], e.adopted[pd] = true, true
}
