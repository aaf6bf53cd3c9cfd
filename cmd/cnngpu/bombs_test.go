// bombs_test.go: decompression bombs (small files that describe huge
// images) for the memory tests of predict and serve, and the child
// process's peak memory (max RSS) they are judged by.

package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// bombPNG returns a w x h 16-bit RGBA PNG (8 bytes a pixel decoded),
// Adam7-interlaced when asked, transparent with an opaque black band
// across its middle third (ink, so the whole preprocessing runs). It
// compresses about 1000 to 1.
func bombPNG(t testing.TB, w, h int, interlaced bool) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // 16-bit, RGBA
	if interlaced {
		ihdr[12] = 1
	}
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	// One pass (or the whole image): rows of pw pixels taken from the
	// columns x0, x0+dx, ... of image rows y.
	pass := func(x0, y0, dx, dy int) {
		pw := (w - x0 + dx - 1) / dx
		if pw <= 0 || y0 >= h {
			return
		}
		row := make([]byte, 1+8*pw)
		for y := y0; y < h; y += dy {
			clear(row)
			if y >= h/3 && y < 2*h/3 {
				for i := 0; i < pw; i++ {
					if x := x0 + i*dx; x >= w/3 && x < 2*w/3 {
						row[1+8*i+6], row[1+8*i+7] = 0xff, 0xff // opaque black
					}
				}
			}
			zw.Write(row)
		}
	}
	if interlaced {
		for _, p := range [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			pass(p[0], p[1], p[2], p[3])
		}
	} else {
		pass(0, 0, 1, 1)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// bandImage is a w x h grey image, white with a black band across its
// middle third, without storing its pixels.
type bandImage struct{ w, h int }

func (b bandImage) ColorModel() color.Model { return color.GrayModel }
func (b bandImage) Bounds() image.Rectangle { return image.Rect(0, 0, b.w, b.h) }
func (b bandImage) At(x, y int) color.Color {
	if y >= b.h/3 && y < 2*b.h/3 && x >= b.w/3 && x < 2*b.w/3 {
		return color.Gray{0}
	}
	return color.Gray{255}
}

// bombJPEG returns a w x h baseline JPEG (YCbCr 4:2:0) of bandImage.
func bombJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, bandImage{w, h}, &jpeg.Options{Quality: 50}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombJPEGHeader returns a small JPEG whose header (SOF0) claims w x h
// pixels: a decoder that trusts it allocates the whole image before it
// finds the data missing.
func bombJPEGHeader(t testing.TB, w, h int) []byte {
	t.Helper()
	b := bombJPEG(t, 64, 64)
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	out := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(out[i+5:], uint16(h))
	binary.BigEndian.PutUint16(out[i+7:], uint16(w))
	return out
}

// bombGIF returns a w x h GIF of the same frame repeated frames times
// (the frame's encoded bytes copied, so building it costs one frame).
func bombGIF(t testing.TB, w, h, frames int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
	for y := h / 3; y < 2*h/3; y++ {
		for x := w / 3; x < 2*w/3; x++ {
			img.Pix[y*img.Stride+x] = 1
		}
	}
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	one := b.Bytes()
	// Header (6) and logical screen descriptor (7), a global colour table
	// of 3<<(size+1) bytes when its flag is set, then the frame, then the
	// trailer byte.
	head := 13
	if one[10]&0x80 != 0 {
		head += 3 << (one[10]&7 + 1)
	}
	frame := one[head : len(one)-1]
	var out bytes.Buffer
	out.Write(one[:head])
	for i := 0; i < frames; i++ {
		out.Write(frame)
	}
	out.WriteByte(0x3b)
	return out.Bytes()
}

// maxRSS is the peak resident memory of a finished child process, in bytes.
func maxRSS(t testing.TB, cmd *exec.Cmd) int64 {
	t.Helper()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this system")
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// rssNow is a running process's resident memory, in bytes, from /proc.
func rssNow(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}
