// pool.go: a fixed set of worker goroutines that the CPU engine's ops share.
// Work is handed out in chunks from an atomic counter, so a busy core does not
// hold the others back, and dispatch allocates nothing.

package cpu

import (
	"sync"
	"sync/atomic"
)

// task is one parallel loop body: run handles indices [lo, hi) on worker w.
// Implementations are long-lived structs owned by the engine, so passing
// them through the pool does not allocate.
type task interface {
	run(w, lo, hi int)
}

type job struct {
	t     task
	n     int
	grain int
}

// pool runs tasks on Workers goroutines, the calling goroutine being worker 0.
type pool struct {
	workers int
	ch      []chan job
	wg      sync.WaitGroup
	next    atomic.Int64
}

func newPool(workers int) *pool {
	if workers < 1 {
		workers = 1
	}
	p := &pool{workers: workers, ch: make([]chan job, workers)}
	for w := 1; w < workers; w++ {
		p.ch[w] = make(chan job, 1)
		go p.loop(w)
	}
	return p
}

func (p *pool) loop(w int) {
	for j := range p.ch[w] {
		p.drain(w, j)
		p.wg.Done()
	}
}

func (p *pool) drain(w int, j job) {
	g := int64(j.grain)
	for {
		lo := p.next.Add(g) - g
		if lo >= int64(j.n) {
			return
		}
		hi := min(lo+g, int64(j.n))
		j.t.run(w, int(lo), int(hi))
	}
}

// parallelFor runs t over [0, n) in chunks of grain indices. Which worker runs
// which chunk varies; tasks that must be deterministic make results depend on
// the chunk, never on the worker.
func (p *pool) parallelFor(n, grain int, t task) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	helpers := min(p.workers, chunks) - 1
	if helpers <= 0 {
		t.run(0, 0, n)
		return
	}
	p.next.Store(0)
	j := job{t: t, n: n, grain: grain}
	p.wg.Add(helpers)
	for w := 1; w <= helpers; w++ {
		p.ch[w] <- j
	}
	p.drain(0, j)
	p.wg.Wait()
}

func (p *pool) close() {
	for w := 1; w < p.workers; w++ {
		close(p.ch[w])
	}
}
