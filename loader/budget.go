// budget.go: bounding the memory that decoding untrusted images takes. A
// small compressed file can describe a huge image (a "decompression
// bomb": a 1 MB PNG of 10000x10000 16-bit pixels decodes to 800 MB), so
// DecodeDigit reads the header first (image.DecodeConfig), refuses more
// than MaxImageArea pixels, estimates the bytes the decode will hold from
// the format and colour model, and takes that many bytes (with the
// search for specks' memory, speckMemory: about a megabyte at most) from one budget
// shared by every decode in the process (DecodeBudget) before decoding.
// Decodes that do not fit wait, in arrival order, so a burst of large
// images is decoded a few at a time; small ones (up to smallDecode: a
// drawing, an MNIST digit) pass the queue whenever they fit. After a large decode the garbage
// collector runs before the bytes are returned to the budget, so the next
// decode reuses that memory instead of growing the heap.
//
// Only the first frame of a GIF is decoded (image.Decode stops there);
// the frames after it are not read.

package loader

import (
	"context"
	"fmt"
	"image/color"
	"runtime"
	"sync"
)

// Decode limits (docs/usage.md, "Limits on images").
const (
	// MaxImageArea is the most pixels an image may have, checked from
	// its header before decoding: 4096x4096 (16,777,216), e.g. a 4896x3264
	// photo (16 megapixels).
	MaxImageArea = 4096 * 4096
	// DecodeBudget is the memory, in bytes, that all decodes in flight
	// together may hold (by the estimate of decodeCost).
	DecodeBudget = 384 << 20
	// gcAfter is the decode size above which the garbage collector runs
	// before its bytes go back to the budget.
	gcAfter = 16 << 20
	// smallDecode is the decode size that does not queue behind larger
	// ones (a 500x500 RGBA PNG, with its search for specks).
	smallDecode = 5 << 20
)

// decodeCost estimates the bytes a decode of a w x h image holds at its
// peak: the decoded image (twice for PNG, whose interlaced form decodes
// each pass into its own image before merging; for JPEG, Go's decoder's
// planes, a byte a component, and the RGBA or CMYK image it converts an
// RGB or CMYK one into, and for a progressive one every coefficient of
// every component, kept until its last scan as an int32: 4 bytes per
// pixel of a component at full resolution) plus the 8-byte grey plane
// PrepareDigit works on.
func decodeCost(format string, m color.Model, w, h int, progressive bool) int64 {
	px := int64(w) * int64(h)
	var perPixel int64
	switch format {
	case "png":
		perPixel = 2 * bytesPerPixel(m)
	case "jpeg":
		components, converted := int64(3), int64(0) // YCbCr, up to 4:4:4
		switch m {
		case color.GrayModel:
			components = 1
		case color.RGBAModel: // RGB (Adobe's transform 0), made RGBA
			converted = 4
		case color.CMYKModel:
			components, converted = 4, 4
		}
		perPixel = components + converted
		if progressive {
			perPixel += 4 * components
		}
	case "gif":
		perPixel = 1
	default:
		perPixel = 8
	}
	return px*perPixel + px*8
}

// bytesPerPixel is the size of one pixel of an image in colour model m as
// the standard decoders produce it.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// Budget is a weighted semaphore over bytes whose waiters are served in
// arrival order and may give up when their context ends; a request of at
// most small bytes passes the queue whenever it fits. The decodes share
// one (DecodeBudget); serve's request bodies another.
type Budget struct {
	mu      sync.Mutex
	size    int64
	free    int64
	small   int64
	waiting string // what a waiter that gives up was waiting to do, for its error
	waiters []*waiter
}

type waiter struct {
	n     int64
	ready chan struct{}
}

// NewBudget returns a budget of size bytes; waiting completes "waiting for
// memory to …" in the error of a waiter that gives up.
func NewBudget(size, small int64, waiting string) *Budget {
	return &Budget{size: size, free: size, small: small, waiting: waiting}
}

// Size is the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

var decodeBudget = NewBudget(DecodeBudget, smallDecode, "decode the image (other large images are being decoded)")

// Acquire takes n bytes (n <= the budget's size), waiting while others
// hold them, or returns ctx's error.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.free >= n && (len(b.waiters) == 0 || n <= b.small) {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		// Granted as the context ended: give the bytes back.
		b.free += n
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	b.grant()
	return fmt.Errorf("waiting for memory to %s: %w", b.waiting, ctx.Err())
}

// Release returns n bytes.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	b.free += n
	b.grant()
	b.mu.Unlock()
}

// grant wakes the waiters at the head of the queue that now fit.
func (b *Budget) grant() {
	for len(b.waiters) > 0 && b.free >= b.waiters[0].n {
		w := b.waiters[0]
		b.free -= w.n
		b.waiters = b.waiters[1:]
		close(w.ready)
	}
}

// withBudget runs decode holding cost bytes of the decode budget.
func withBudget[T any](ctx context.Context, cost int64, decode func() (T, error)) (T, error) {
	var zero T
	if err := decodeBudget.Acquire(ctx, cost); err != nil {
		return zero, err
	}
	defer decodeBudget.Release(cost)
	v, err := decode()
	if cost > gcAfter {
		// decode's image is garbage now: collect it before the next
		// decode takes these bytes, so the heap does not grow by them.
		runtime.GC()
	}
	return v, err
}
