// share.go: the training images of a study with several engines (several
// runs at once per GPU, or CPU engines splitting the threads): engines that
// can read each other's tensors (engine.Shares) form a group, and each group
// holds one upload, made by its first engine before any run starts and
// released when every engine of the group has finished.

package tune

import (
	"errors"
	"fmt"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/shown"
)

// shareGroup is engines that use one upload of the training images.
type shareGroup struct {
	owner   engine.Engine   // made the upload, and frees it
	members []engine.Engine // owner first
	ds      *engine.Dataset
}

// shareGroups is each engine's group.
type shareGroups struct {
	groups []*shareGroup
	of     []*shareGroup // by engine index
}

// group puts each engine into the first group whose owner's tensors it
// can read, or a new one.
func group(engines []engine.Engine) *shareGroups {
	g := &shareGroups{of: make([]*shareGroup, len(engines))}
	for i, e := range engines {
		for _, sg := range g.groups {
			if engine.Shares(e, sg.owner) {
				sg.members = append(sg.members, e)
				g.of[i] = sg
				break
			}
		}
		if g.of[i] == nil {
			sg := &shareGroup{owner: e, members: []engine.Engine{e}}
			g.groups = append(g.groups, sg)
			g.of[i] = sg
		}
	}
	return g
}

// upload groups the engines and uploads the training images once per
// group (none when there are no runs to train). The owner syncs before
// the others read (engine.Sharer's first rule).
func (r *Runner) upload(runs int) (*shareGroups, error) {
	g := group(r.Engines)
	if runs == 0 {
		return g, nil
	}
	for _, sg := range g.groups {
		ds, err := engine.UploadDataset(sg.owner, r.Data.Train.Images.Pixels, r.Data.Train.Labels)
		if err == nil && len(sg.members) > 1 {
			if err = sg.owner.Sync(); err != nil {
				ds.Release(sg.owner)
				err = fmt.Errorf("uploading the training images on %s: %w", sg.owner.Name(), err)
			}
		}
		if err != nil {
			g.release()
			return nil, err
		}
		sg.ds = ds
	}
	if len(r.Engines) > 1 {
		copies := "one copy"
		if len(g.groups) > 1 {
			copies = fmt.Sprintf("%d copies", len(g.groups))
		}
		// No more at once than there are runs left (a resumed study, or
		// --jobs-per-device above the grid's size).
		idle := ""
		if runs < len(r.Engines) {
			idle = fmt.Sprintf(" (%d of the %d engines have no run to train)", len(r.Engines)-runs, len(r.Engines))
		}
		r.logf("%s at once, on %s of the training images%s", shown.Count(min(runs, len(r.Engines)), "run"), copies, idle)
	}
	return g, nil
}

// release frees each group's upload once every engine of the group has
// finished with it: the others have synced (engine.Sharer's second rule;
// their recordings went when their last Trainer.Run ended). It returns
// the first error a sync reports.
func (g *shareGroups) release() error {
	var errs []error
	for _, sg := range g.groups {
		if sg.ds == nil {
			continue
		}
		for _, e := range sg.members[1:] {
			if err := e.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", e.Name(), err))
			}
		}
		sg.ds.Release(sg.owner)
		sg.ds = nil
	}
	return errors.Join(errs...)
}

// slots names the engines for the progress: Slots, else "#1", "#2"… when
// there are several, else "".
func (r *Runner) slots() []string {
	out := make([]string, len(r.Engines))
	for i := range out {
		switch {
		case i < len(r.Slots) && r.Slots[i] != "":
			out[i] = r.Slots[i]
		case len(r.Engines) > 1:
			out[i] = fmt.Sprintf("#%d", i+1)
		}
	}
	return out
}
