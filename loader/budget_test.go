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
	"slices"
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
	}{{"png", color.NRGBA64Model}, {"png", color.RGBAModel}, {"jpeg", color.CMYKModel}, {"jpeg", color.RGBAModel}, {"jpeg", color.YCbCrModel}, {"gif", color.Palette{color.Black}}} {
		if n := decodeCost(c.format, c.m, 4096, 4096, false); n > DecodeBudget || n < 4096*4096*9 {
			t.Errorf("%s %T at 4096x4096: cost %d, want from %d to the budget %d", c.format, c.m, n, 4096*4096*9, DecodeBudget)
		}
	}
	// A progressive JPEG's coefficients, 4 bytes each (Go's decoder keeps
	// them as int32; they were counted as 2): at 4096x4096, a colour one
	// still fits the budget, a CMYK one does not, refused.
	if n := decodeCost("jpeg", color.YCbCrModel, 4096, 4096, true); n > DecodeBudget || n < 4096*4096*(3+3*4) {
		t.Errorf("a progressive 4096x4096 colour JPEG: cost %d, want its coefficients counted at 4 bytes, within the budget %d", n, DecodeBudget)
	}
	if n := decodeCost("jpeg", color.CMYKModel, 4096, 4096, true); n <= DecodeBudget {
		t.Errorf("a progressive 4096x4096 CMYK JPEG: cost %d, within the budget %d; want its coefficients counted at 4 bytes", n, DecodeBudget)
	}
	// A CMYK or RGB one is converted into an image of 4 bytes a pixel,
	// beside the decoder's planes (4 and 3 of them).
	for _, c := range []struct {
		m    color.Model
		want int64
	}{{color.CMYKModel, 4 + 4 + 8}, {color.RGBAModel, 3 + 4 + 8}, {color.YCbCrModel, 3 + 8}, {color.GrayModel, 1 + 8}} {
		if n := decodeCost("jpeg", c.m, 100, 100, false); n != 100*100*c.want {
			t.Errorf("a baseline 100x100 JPEG of %T: cost %d, want %d bytes a pixel", c.m, n, c.want)
		}
	}
}

// TestSmallDecodesPassTheQueue: a drawing-sized image, with the memory
// its search for specks takes, is still a small decode that passes the
// queue of large ones; a 28x28 one reserves little for that search.
func TestSmallDecodesPassTheQueue(t *testing.T) {
	if n := decodeCost("png", color.RGBAModel, 500, 500, false) + speckMemory(500, 500); n > smallDecode {
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

// progressiveJPEG is a progressive greyscale JPEG of w x h pixels coded
// in n scans, each a refinement of every block's AC coefficients that
// codes nothing (end-of-band runs of 32,767 blocks over the image): some
// 26 bytes a scan at 4096x4096, for which Go's decoder still walks every
// block.
func progressiveJPEG(w, h, n int) []byte {
	seg := func(m byte, p ...byte) []byte {
		return append([]byte{0xff, m, byte((len(p) + 2) >> 8), byte(len(p) + 2)}, p...)
	}
	b := []byte{0xff, 0xd8}
	b = append(b, seg(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)...)          // quantization table 0
	b = append(b, seg(0xc2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)...)    // SOF2: one component
	b = append(b, seg(0xc4, append(append([]byte{0x10, 1}, make([]byte, 15)...), 0xe0)...)...) // AC table 0: one 1-bit code, EOBRUN 14
	var bits []bool                                                                            // each run: its code (0), then 14 ones
	for left := ((w + 7) / 8) * ((h + 7) / 8); left > 0; left -= 32767 {
		bits = append(bits, false)
		for range 14 {
			bits = append(bits, true)
		}
	}
	for len(bits)%8 != 0 {
		bits = append(bits, true)
	}
	var data []byte
	for i := 0; i < len(bits); i += 8 {
		var v byte
		for _, bit := range bits[i : i+8] {
			v <<= 1
			if bit {
				v |= 1
			}
		}
		data = append(data, v)
		if v == 0xff {
			data = append(data, 0) // stuffed
		}
	}
	for range n {
		b = append(b, seg(0xda, 1, 1, 0x00, 1, 63, 0x10)...) // one component, AC 1-63, refinement
		b = append(b, data...)
	}
	return append(b, 0xff, 0xd9)
}

// TestJPEGOfManyScansRefused: a JPEG whose scans would have the decoder
// walk a large image's blocks far more often than any encoder's file
// does is refused before it is decoded, naming its scans (a 7 KB file of
// 200 scans took 5 s; 2,000, minutes); a small image's many scans, and
// a large image's few, are decoded as before.
func TestJPEGOfManyScansRefused(t *testing.T) {
	if s, c, p := jpegWork(progressiveJPEG(64, 64, 3)); s != 3 || c != 3 || !p {
		t.Errorf("3 scans of one component, progressive: read as %d scans of %d components, progressive %v", s, c, p)
	}
	bomb := progressiveJPEG(4096, 4096, 200)
	// The same with a byte between two segments, which the decoder skips
	// and a walk of the segments stopped at (it then counted no scan,
	// and decoded the file for 15 s).
	sof := bytes.Index(bomb, []byte{0xff, 0xc2})
	sofEnd := sof + 2 + int(bomb[sof+2])<<8 + int(bomb[sof+3])
	junk := append(append(slices.Clone(bomb[:sofEnd]), 0), bomb[sofEnd:]...)
	for name, b := range map[string][]byte{"": bomb, ", a byte after its frame header": junk} {
		_, err := DecodeDigit(b)
		if want := "jpeg image of 4096x4096 pixels coded in 200 scans (200 of one component each, counted so): more than encoders write"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("200 scans of a 4096x4096 image%s: %v; want %q", name, err, want)
		}
	}
	for _, c := range []struct{ w, h, n int }{{64, 64, 200}, {2048, 2048, 10}} {
		if _, err := DecodeDigit(progressiveJPEG(c.w, c.h, c.n)); err != nil && strings.Contains(err.Error(), "scans") {
			t.Errorf("%d scans of a %dx%d image: %v; want it decoded", c.n, c.w, c.h, err)
		}
	}
}
