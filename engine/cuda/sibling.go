//go:build cgo

// sibling.go: a batch size whose steps come rarely (an epoch's last,
// partial batch: engine.OccasionalSteps) takes the choices the training's
// batch settled instead of timing its own. Its recording is replayed once
// an epoch (96 images at the default batch of 128: ten times a default
// run), while timing its alternatives in place takes about eight replays
// of each, so its timing never ended, no process remembered it as
// settled, and every process recorded and timed its alternatives again
// (kernels/NOTES.md, runs 14–16). Now, outside recordings, a direction of
// such a batch whose choice is not settled takes the final choice of the
// same direction of the same shape at another batch size (the most
// images): our conv3 kernel, or the same cuDNN algorithm where this
// shape's plan offers it as an alternative, or the same cuBLASLt
// algorithm; it is then settled and remembered as such, and a later
// process restores it. Where the other's choice is not on offer here, or
// no other is final yet, the direction is timed as before. Batch sizes
// not marked occasional (another configuration's on the same engine, an
// evaluation's) time their own.

package cuda

import "slices"

// SetOccasional sets the keys (batch sizes) whose steps come rarely
// (engine.OccasionalSteps), replacing those set before.
func (e *Engine) SetOccasional(keys ...int) {
	clear(e.occasional)
	for _, k := range keys {
		e.occasional[k] = true
	}
}

// sibling returns, where pd's batch size is occasional, the direction pd
// of the same shape at another batch size whose choice is final (settled,
// and not being timed now), the one with the most images, or false where
// there is none.
func (e *Engine) sibling(pd planDir) (planDir, bool) {
	if !e.occasional[pd.s.N] {
		return planDir{}, false
	}
	var best planDir
	found := false
	for q := range e.settled {
		if q.dir != pd.dir || q.s.N == pd.s.N {
			continue
		}
		r := q.s
		r.N = pd.s.N
		if r != pd.s || e.timing(q) {
			continue
		}
		if !found || q.s.N > best.s.N {
			best, found = q, true
		}
	}
	return best, found
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

// adoptConv settles convolution direction pd, of plan cv (prepared), with
// its sibling's choice where there is one and cv can take it.
func (e *Engine) adoptConv(pd planDir, cv convPlan) {
	sib, ok := e.sibling(pd)
	if !ok {
		return
	}
	if e.convOwn[sib] {
		if e.conv != convTimed || e.conv3Block(pd.s, pd.dir) == 0 {
			return
		}
		e.convOwn[pd] = true
	} else {
		sc := e.convs[sib.s]
		if sc == nil || !sc.Prepared(pd.dir) {
			return
		}
		if a := sc.Algo(pd.dir); a != cv.Algo(pd.dir) {
			if !slices.Contains(cv.Alternatives(pd.dir), a) {
				return // not on offer here: timed as before
			}
			if err := cv.Use(pd.dir, a); err != nil {
				return
			}
		}
	}
	// No alternative is timed: the workspace is the algorithm's own
	// (plan), as for a choice an earlier process settled.
	e.settled[pd], e.restored[pd] = true, true
	e.remember([]planDir{pd}, true)
}

// adoptDense settles dense direction pd, of plan p, with its sibling's
// choice where there is one and p offers the sibling's algorithm: fused
// with that algorithm, or apart.
func (e *Engine) adoptDense(pd planDir, p gemmPlan) {
	sib, ok := e.sibling(pd)
	if !ok {
		return
	}
	if e.dense == denseLt || e.fusedOn[sib] {
		sp := e.gemmDir[sib]
		if sp == nil {
			return
		}
		id, i := sp.AlgoID(sp.Algo()), -1
		for j := range p.Algos() {
			if p.AlgoID(j) == id {
				i = j
				break
			}
		}
		if i < 0 {
			return // not on offer here: timed as before
		}
		p.Use(i)
		if e.dense == denseTimed {
			e.fusedOn[pd] = true
		}
	}
	e.settled[pd] = true
	e.remember([]planDir{pd}, true)
}
