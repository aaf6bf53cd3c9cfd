// budget_test.go: the decode limits: an image over MaxImageArea is refused
// from its header without decoding; the shared budget never lets the
// decodes in flight hold more than its size, serves large waiters in
// order, lets small ones pass, and gives up when a context ends; only a
// GIF's first frame is read.

package loader

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"strings"
	"sync"
	"testing"
	"time"
)

// pngHeader is a PNG signature and IHDR chunk for a w x h 16-bit RGBA
// image, and no image data: only a decoder that believes the header
// before reading the data would allocate for it.
func pngHeader(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6
	binary.Write(&b, binary.BigEndian, uint32(13))
	c := crc32.NewIEEE()
	c.Write([]byte("IHDR"))
	c.Write(ihdr)
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, c.Sum32())
	return b.Bytes()
}

func TestAreaLimitFromHeader(t *testing.T) {
	for _, c := range []struct{ w, h int }{{10000, 10000}, {4097, 4096}, {10000, 1700}} {
		_, err := DecodeDigit(pngHeader(c.w, c.h))
		if err == nil || !strings.Contains(err.Error(), "expected at most 16777216 (4096x4096)") {
			t.Errorf("%dx%d: %v, want the pixel limit", c.w, c.h, err)
		}
	}
	// At the limit the header is accepted and decoding is tried.
	if _, err := DecodeDigit(pngHeader(4096, 4096)); err == nil || !strings.Contains(err.Error(), "damaged png image") {
		t.Errorf("4096x4096 header without data: %v, want a damaged-image error", err)
	}
}

func TestDecodeCost(t *testing.T) {
	// The largest accepted image of each kind fits the budget alone.
	for _, c := range []struct {
		format string
		m      color.Model
	}{{"png", color.NRGBA64Model}, {"png", color.RGBAModel}, {"jpeg", color.CMYKModel}, {"jpeg", color.YCbCrModel}, {"gif", color.Palette{color.Black}}} {
		if n := decodeCost(c.format, c.m, 4096, 4096); n > DecodeBudget || n < 4096*4096*9 {
			t.Errorf("%s %T at 4096x4096: cost %d, want from %d to the budget %d", c.format, c.m, n, 4096*4096*9, DecodeBudget)
		}
	}
}

// TestSmallDecodesPassTheQueue: a drawing-sized image, with the memory
// its search for specks takes, is still a small decode that passes the
// queue of large ones; a 28x28 one reserves little for that search.
func TestSmallDecodesPassTheQueue(t *testing.T) {
	if n := decodeCost("png", color.RGBAModel, 500, 500) + speckMemory(500, 500); n > smallDecode {
		t.Errorf("a 500x500 RGBA PNG reserves %d bytes, more than a small decode's %d", n, smallDecode)
	}
	if n := speckMemory(28, 28); n > 64<<10 {
		t.Errorf("the search for specks in a 28x28 image reserves %d bytes, want at most 64 KiB", n)
	}
}

func TestBudgetBoundsConcurrentDecodes(t *testing.T) {
	b := NewBudget(100, smallDecode, "decode the image (other large images are being decoded)")
	waiting := func() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) }
	var mu sync.Mutex
	held, most := int64(0), int64(0)
	var order []int
	proceed := make(chan struct{})
	var wg sync.WaitGroup
	// Eight large decodes of 60 (one at a time fits), queued in order.
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := b.Acquire(context.Background(), 60); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			held += 60
			most = max(most, held)
			order = append(order, i)
			mu.Unlock()
			<-proceed
			mu.Lock()
			held -= 60
			mu.Unlock()
			b.Release(60)
		}(i)
		for deadline := time.Now().Add(10 * time.Second); ; {
			mu.Lock()
			n := len(order)
			mu.Unlock()
			if n+waiting() == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a decode neither holds the budget nor waits for it")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A small one passes the queue while a large one holds the budget.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Acquire(ctx, 10); err != nil {
		t.Errorf("a small decode waited behind large ones: %v", err)
	} else {
		b.Release(10)
	}
	close(proceed)
	wg.Wait()
	if most > 100 {
		t.Errorf("%d held at once, budget 100", most)
	}
	for i, v := range order {
		if v != i {
			t.Errorf("large decodes served in order %v, want arrival order", order)
			break
		}
	}
	if b.free != 100 || len(b.waiters) != 0 {
		t.Errorf("after all: free %d, %d waiting", b.free, len(b.waiters))
	}
}

func TestBudgetWaitGivesUp(t *testing.T) {
	b := NewBudget(100, smallDecode, "decode the image (other large images are being decoded)")
	if err := b.Acquire(context.Background(), 80); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := b.Acquire(ctx, 50)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for memory to decode") {
		t.Errorf("acquire past its deadline: %v", err)
	}
	b.Release(80)
	if b.free != 100 || len(b.waiters) != 0 {
		t.Errorf("after a waiter gave up: free %d, %d waiting", b.free, len(b.waiters))
	}
}

func TestGIFOnlyFirstFrameIsRead(t *testing.T) {
	img := image.NewPaletted(image.Rect(0, 0, 60, 60), color.Palette{color.White, color.Black})
	for y := 10; y < 50; y++ {
		for x := 25; x < 35; x++ {
			img.Pix[y*img.Stride+x] = 1
		}
	}
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	// A second frame that is garbage: it is never read.
	data := append(b.Bytes()[:b.Len()-1], 0x2c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x08, 0x3b)
	if _, err := DecodeDigit(data); err != nil {
		t.Errorf("a GIF with a broken second frame: %v", err)
	}
}
