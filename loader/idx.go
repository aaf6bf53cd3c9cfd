// Package loader reads MNIST: IDX files (gzip-compressed or raw) with every
// structural check, download with SHA-256 verification into a cache, and
// deterministic stratified splits.
//
// idx.go: the IDX parser.
package loader

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shown"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = uint8) and
// the number of dimensions.
const (
	MagicImages = 0x00000803
	MagicLabels = 0x00000801
)

// MaxFileBytes bounds how much one IDX file may decompress to (the MNIST
// training images are 47 MB), so a corrupt or hostile gzip stream cannot
// exhaust memory.
const MaxFileBytes = 1 << 30

// Images is a set of equally sized greyscale images, row-major, one byte
// per pixel.
type Images struct {
	N, Rows, Cols int
	Pixels        []uint8
}

// Labels is a set of class labels.
type Labels struct {
	N      int
	Values []uint8
}

// readAll returns the file's bytes, decompressed when it is gzip.
func readAll(name string, raw []byte) ([]byte, error) {
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := newGzip(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip data: %v", name, err)
		}
		// The IDX header, decompressed first, says how long the file is:
		// the buffer is made that long (the 47 MB of training images are
		// not copied at each doubling of a growing buffer), within the
		// bound below, and a file that goes on well past it (a gzip bomb
		// under an MNIST name) is stopped there. A little more is read,
		// for the parser's count of trailing bytes. A header announcing
		// more than MaxFileBytes is refused at once; contents that start
		// with no IDX header are not decompressed further, and the parser
		// says what they are.
		head := bytes.NewBuffer(make([]byte, 0, idxHeaderMax+bytes.MinRead))
		if _, err := head.ReadFrom(io.LimitReader(zr, idxHeaderMax)); err != nil {
			return nil, fmt.Errorf("%s: bad gzip data: %v (the file is damaged or cut short)", name, err)
		}
		n, ok := idxLength(head.Bytes())
		switch {
		case !ok:
			return head.Bytes(), nil
		case n > MaxFileBytes:
			return nil, fmt.Errorf("%s: its IDX header announces %d bytes, more than the %d-byte limit: not an MNIST file (MNIST's largest is 47 MB)", name, n, int64(MaxFileBytes))
		}
		// The buffer is made as long as the header says, within the
		// bound, where the file is compressed no more than 64 times (the
		// MNIST files 5 times). Where it says more than that, the stream
		// is first decompressed without keeping it, to count what it
		// holds, and the buffer made that long: a header alone, in a file
		// of 40 bytes, announcing a gigabyte took a gigabyte, and a
		// megabyte of zeros announcing one took 4 GB as a growing buffer
		// doubled past it.
		limit := n + idxSlack
		size := limit + 1
		if 64*int64(len(raw)) < size {
			zc, _ := newGzip(raw) // its header read once above
			got, err := io.Copy(io.Discard, io.LimitReader(zc, size))
			if err != nil {
				return nil, fmt.Errorf("%s: bad gzip data: %v (the file is damaged or cut short)", name, err)
			}
			size = max(got, int64(head.Len()))
		}
		data := make([]byte, head.Len(), size)
		copy(data, head.Bytes())
		for rest := io.LimitReader(zr, size-int64(len(data))); len(data) < cap(data); {
			k, err := rest.Read(data[len(data):cap(data)])
			data = data[:len(data)+k]
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: bad gzip data: %v (the file is damaged or cut short)", name, err)
			}
		}
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("%s: decompresses to more than the %d bytes its IDX header announces (and %d more): the file is damaged, or not an MNIST file; fetch it again", name, n, idxSlack)
		}
		return data, nil
	}
	return raw, nil
}

// newGzip reads the gzip file raw: its members one after another (as
// gunzip does), and zero bytes after the last as its end (padding, which
// gunzip also accepts); anything else after a member is an error.
func newGzip(raw []byte) (io.Reader, error) {
	br := bytes.NewReader(raw)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return &gzipMembers{raw: raw, br: br, zr: zr}, nil
}

type gzipMembers struct {
	raw []byte
	br  *bytes.Reader
	zr  *gzip.Reader
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		// The member ended: what follows?
		rest := g.raw[len(g.raw)-g.br.Len():]
		if !slices.ContainsFunc(rest, func(b byte) bool { return b != 0 }) {
			return 0, io.EOF
		}
		if err := g.zr.Reset(g.br); err != nil {
			if len(rest) >= 2 && rest[0] == 0x1f && rest[1] == 0x8b {
				return 0, fmt.Errorf("%v: a further gzip member, cut short in its header (%d bytes)", err, len(rest))
			}
			return 0, fmt.Errorf("%v after the end of the gzip data (%d bytes that are neither a gzip member nor zero padding)", err, len(rest))
		}
		g.zr.Multistream(false)
	}
}

// idxHeaderMax is the longest IDX header (4 dimensions); idxSlack is how
// far past the length its header announces a compressed IDX file is
// decompressed, for an error that counts its trailing bytes.
const (
	idxHeaderMax = 4 + 4*4
	idxSlack     = 1 << 20
	// maxIDXLength bounds idxLength's product: far past any file read
	// whole here, so that IsIDX's answer is the length's comparison alone.
	maxIDXLength = 1 << 40
)

// idxLength is the length of the IDX file whose first bytes are head, as
// its header says: the header and the elements its dimensions count; ok
// is false where head is not an IDX header.
func idxLength(head []byte) (n int64, ok bool) {
	if len(head) < 4 || head[0] != 0 || head[1] != 0 {
		return 0, false
	}
	size := map[byte]int64{0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8}[head[2]]
	dims := int(head[3])
	if size == 0 || dims < 1 || dims > 4 || len(head) < 4+4*dims {
		return 0, false
	}
	n = size
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(head[4+4*i:]))
		if d > 0 && n > maxIDXLength/d {
			return 0, false // more than any file read here (and no overflow)
		}
		n *= d
	}
	return int64(4+4*dims) + n, true
}

// IsIDX reports whether data (raw or gzip) is a well-formed IDX file of any
// element type and shape: a magic number of two zero bytes, a known type
// code and 1 to 4 dimensions, and a body of exactly the elements the
// dimensions count.
func IsIDX(data []byte) bool {
	data, err := readAll("", data)
	if err != nil {
		return false
	}
	n, ok := idxLength(data)
	return ok && n == int64(len(data))
}

// header reads the magic number and dimensions.
func header(name string, data []byte, wantMagic uint32, dims int) ([]int, []byte, error) {
	hlen := 4 + 4*dims
	if len(data) < 4 {
		return nil, nil, fmt.Errorf("%s: truncated: %d bytes, too short for an IDX header", name, len(data))
	}
	magic := binary.BigEndian.Uint32(data)
	if magic != wantMagic {
		what, other := "image", "label"
		if wantMagic == MagicLabels {
			what, other = "label", "image"
		}
		if magic == MagicLabels || magic == MagicImages {
			return nil, nil, fmt.Errorf("%s: an IDX %s file where an IDX %s file was expected (its magic number 0x%08x; %s files start with 0x%08x)", name, other, what, magic, what, wantMagic)
		}
		if f := sniff(data); f != "" {
			return nil, nil, fmt.Errorf("%s: a %s image, not an IDX %s file (which starts with 0x%08x)", name, strings.ToUpper(f), what, wantMagic)
		}
		return nil, nil, fmt.Errorf("%s: wrong magic number 0x%08x: IDX %s files start with 0x%08x", name, magic, what, wantMagic)
	}
	if len(data) < hlen {
		return nil, nil, fmt.Errorf("%s: truncated: %d bytes, the IDX header needs %d", name, len(data), hlen)
	}
	d := make([]int, dims)
	for i := range d {
		v := binary.BigEndian.Uint32(data[4+4*i:])
		if v > 1<<28 {
			return nil, nil, fmt.Errorf("%s: dimension %d is %d, implausibly large", name, i, v)
		}
		d[i] = int(v)
	}
	return d, data[hlen:], nil
}

// ParseImages parses an IDX3 image file's bytes (raw or gzip). name is
// used in errors; images must be 28x28.
func ParseImages(name string, raw []byte) (*Images, error) {
	data, err := readAll(name, raw)
	if err != nil {
		return nil, err
	}
	d, body, err := header(name, data, MagicImages, 3)
	if err != nil {
		return nil, err
	}
	n, rows, cols := d[0], d[1], d[2]
	if rows != 28 || cols != 28 {
		return nil, fmt.Errorf("%s: images are %dx%d, expected 28x28", name, rows, cols)
	}
	per := rows * cols
	// n against what the body holds, not n*per against its length: the
	// product of a hostile count can overflow a 32-bit int.
	if n > len(body)/per {
		return nil, fmt.Errorf("%s: truncated: header says %s of %d bytes, file holds %s", name, shown.Count(n, "image"), per, shown.Count(len(body)/per, "image"))
	}
	if extra := len(body) - n*per; extra != 0 {
		return nil, fmt.Errorf("%s: %s of trailing data after %s of %d bytes", name, shown.Count(extra, "byte"), shown.Count(n, "image"), per)
	}
	return &Images{N: n, Rows: rows, Cols: cols, Pixels: body}, nil
}

// ParseLabels parses an IDX1 label file's bytes (raw or gzip); every label
// must be 0–9.
func ParseLabels(name string, raw []byte) (*Labels, error) {
	data, err := readAll(name, raw)
	if err != nil {
		return nil, err
	}
	d, body, err := header(name, data, MagicLabels, 1)
	if err != nil {
		return nil, err
	}
	n := d[0]
	if len(body) != n {
		if len(body) < n {
			return nil, fmt.Errorf("%s: truncated: header says %s, file holds %d", name, shown.Count(n, "label"), len(body))
		}
		return nil, fmt.Errorf("%s: %s of trailing data after %s", name, shown.Count(len(body)-n, "byte"), shown.Count(n, "label"))
	}
	for i, v := range body {
		if v > 9 {
			return nil, fmt.Errorf("%s: the label at index %d (from 0) is %d, expected 0-9", name, i, v)
		}
	}
	return &Labels{N: n, Values: body}, nil
}

// Set is images with their labels.
type Set struct {
	Images *Images
	Labels []uint8
}

// N is the number of examples.
func (s *Set) N() int { return len(s.Labels) }

// Fingerprint names the set's contents: the count, the image size and a
// CRC-32C (Castagnoli) of the pixels and labels; a checkpoint keeps its
// training set's so that resuming on other data is refused.
func (s *Set) Fingerprint() string {
	t := crc32.MakeTable(crc32.Castagnoli)
	sum := crc32.Update(crc32.Checksum(s.Images.Pixels, t), t, s.Labels)
	return fmt.Sprintf("%d images of %dx%d, crc32c %08x", s.N(), s.Images.Rows, s.Images.Cols, sum)
}

// ReadSet reads and cross-checks an image file and a label file.
func ReadSet(imagesPath, labelsPath string) (*Set, error) {
	imgs, err := fileutil.ReadFile(imagesPath, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	im, err := ParseImages(imagesPath, imgs)
	if err != nil {
		return nil, &ParseError{err}
	}
	labels, err := fileutil.ReadFile(labelsPath, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	return withLabels(im, imagesPath, labelsPath, labels)
}

// parseSet is ReadSet of the files' bytes (raw or gzip; the names are for
// errors).
func parseSet(imagesName string, imgs []byte, labelsName string, labels []byte) (*Set, error) {
	im, err := ParseImages(imagesName, imgs)
	if err != nil {
		return nil, &ParseError{err}
	}
	return withLabels(im, imagesName, labelsName, labels)
}

// withLabels parses the label file's bytes and pairs them with im.
func withLabels(im *Images, imagesName, labelsName string, labels []byte) (*Set, error) {
	lb, err := ParseLabels(labelsName, labels)
	if err != nil {
		return nil, &ParseError{err}
	}
	if im.N != lb.N {
		return nil, &ParseError{fmt.Errorf("%s has %s but %s has %s: the counts must match", imagesName, shown.Count(im.N, "image"), labelsName, shown.Count(lb.N, "label"))}
	}
	return &Set{Images: im, Labels: lb.Values}, nil
}

// ParseError is ReadSet's error for files that were read but are not a
// well-formed MNIST set (damaged, cut short, of another kind); it names
// the file.
type ParseError struct{ Err error }

func (e *ParseError) Error() string { return e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }
