// imageend.go: where the image at the start of a file ends, so that a
// second image after it (two files concatenated: `cat a.png b.png |
// cnngpu predict -`) is refused instead of silently ignored: the
// decoders stop at the first image's end and never look further.

package loader

import (
	"bytes"
	"encoding/binary"
)

// secondImage names the format of the image that rest starts with, by
// a signature stricter than sniff's for JPEG (its start marker and the
// next marker's first byte): "" where rest is not an image.
func secondImage(rest []byte) string {
	f := sniff(rest)
	if f == "jpeg" && (len(rest) < 3 || rest[2] != 0xff) {
		return ""
	}
	return f
}

// imageEnd returns the offset just past the first image of data in the
// given format ("png", "jpeg", "gif"), walking its chunks, segments or
// blocks; ok is false where data is not well formed enough to tell (the
// decoder then reports what is wrong).
func imageEnd(format string, data []byte) (end int, ok bool) {
	switch format {
	case "png":
		return pngEnd(data)
	case "jpeg":
		return jpegEnd(data)
	case "gif":
		return gifEnd(data)
	}
	return 0, false
}

// pngEnd: the signature, then chunks (length, type, data, CRC) up to and
// including IEND.
func pngEnd(data []byte) (end int, ok bool) {
	pngChunks(data, func(typ string, e int) bool {
		if typ == "IEND" {
			end, ok = e, true
		}
		return !ok
	})
	return end, ok
}

// pngChunks calls f with the type of each whole chunk of a PNG after its
// signature and the offset just past it, in order, until f returns false
// or a chunk runs past the data's end.
func pngChunks(data []byte, f func(typ string, end int) bool) {
	pos := 8
	for pos+12 <= len(data) {
		end := int64(pos) + 12 + int64(binary.BigEndian.Uint32(data[pos:]))
		if end > int64(len(data)) || !f(string(data[pos+4:pos+8]), int(end)) {
			return
		}
		pos = int(end)
	}
}

// jpegEnd: SOI, then marker segments (a multi-picture file, whose APP2
// segment starts "MPF", and a container photo, whose XMP lists the items
// appended to it, cannot be told from two files: not ok); after each
// start of scan, the
// entropy-coded data runs to the next marker that is not a stuffed byte
// (FF 00) or a restart (FF D0–D7); EOI (FF D9) ends the image. Segments
// are skipped by their length, so a thumbnail inside an APP1 segment
// (EXIF) does not end the image early.
func jpegEnd(data []byte) (int, bool) {
	return jpegSegments(data, func(m byte, payload []byte) bool {
		switch {
		case m == 0xe2 && bytes.HasPrefix(payload, []byte("MPF\x00")):
			// A multi-picture file (a camera's preview, a phone's HDR
			// gain map): the images after the first are its own.
			return false
		case m == 0xe1 && declaresContainer(payload):
			// A container photo (a phone's portrait or motion photo:
			// depth map, gain map or video appended, listed in its XMP).
			return false
		}
		return true
	})
}

// jpegSegments walks a JPEG after its SOI as jpegEnd says, calling f with
// each whole marker segment's marker and payload (after its length) in
// order; after a start of scan (DA) it skips the scan's entropy-coded
// data. It returns the offset just past EOI, ok false where the data ends
// first, a segment runs past it, or f returns false.
func jpegSegments(data []byte, f func(m byte, payload []byte) bool) (end int, ok bool) {
	pos := 2
	for pos+1 < len(data) {
		if data[pos] != 0xff {
			return 0, false
		}
		m := data[pos+1]
		switch {
		case m == 0xff: // fill byte before a marker
			pos++
			continue
		case m == 0xd9:
			return pos + 2, true
		case m == 0x01 || (m >= 0xd0 && m <= 0xd7):
			pos += 2
			continue
		}
		if pos+4 > len(data) {
			return 0, false
		}
		n := int(binary.BigEndian.Uint16(data[pos+2:]))
		if n < 2 || pos+2+n > len(data) || !f(m, data[pos+4:pos+2+n]) {
			return 0, false
		}
		pos += 2 + n
		if m != 0xda {
			continue
		}
		for pos+1 < len(data) {
			if data[pos] == 0xff {
				if n := data[pos+1]; n != 0 && n != 0xff && (n < 0xd0 || n > 0xd7) {
					break
				}
			}
			pos++
		}
	}
	return 0, false
}

// jpegWork is what decoding a JPEG asks of Go's decoder beyond its
// pixels: scans, how many components they code in all (the decoder
// visits every block of each component of a scan, so that a progressive
// file of thousands of tiny scans of a large image takes it hours), and
// whether the frame is progressive (SOF2, 6, 10, 14: the decoder keeps
// every coefficient, 4 bytes each, until the last scan). It counts the
// markers themselves through the whole file, not by a walk of its
// segments, which a byte between two of them stops where the decoder
// skips it ("extraneous data"); the two bytes of a marker cannot occur
// in a scan's data (an FF there is followed by 00 or a restart), and a
// segment's payload (a thumbnail, a profile) that holds some only makes
// the count larger, never smaller.
func jpegWork(data []byte) (scans, components int, progressive bool) {
	for i := 0; i+1 < len(data); i++ {
		if data[i] != 0xff {
			continue
		}
		switch data[i+1] {
		case 0xc2, 0xc6, 0xca, 0xce:
			progressive = true
		case 0xda:
			scans++
			n := 1
			if i+4 < len(data) {
				n = max(1, int(data[i+4])) // the scan's component count, after its length
			}
			components += n
		}
	}
	return scans, components, progressive
}

// declaresContainer tells whether an APP1 segment's payload is an XMP
// packet that lists items appended after the primary image: Google's
// container format (Pixel portrait and motion photos, Android's Ultra
// HDR), whose Container:Directory names each item's type and length.
func declaresContainer(payload []byte) bool {
	return bytes.HasPrefix(payload, []byte("http://ns.adobe.com/xap/1.0/\x00")) &&
		bytes.Contains(payload, []byte("http://ns.google.com/photos/1.0/container/"))
}

// gifEnd: header, logical screen descriptor and global colour table, then
// extensions (21) and images (2C), each ending in data sub-blocks, up to
// the trailer (3B).
func gifEnd(data []byte) (int, bool) {
	end, _, ok := gifWalk(data)
	return end, ok
}

// gifFrames is the number of images (frames) a GIF holds, as far as its
// blocks can be followed.
func gifFrames(data []byte) int {
	_, frames, _ := gifWalk(data)
	return frames
}

// gifWalk follows a GIF's blocks (gifEnd), counting its images.
func gifWalk(data []byte) (end, frames int, ok bool) {
	if len(data) < 13 {
		return 0, 0, false
	}
	pos := 13
	if p := data[10]; p&0x80 != 0 {
		pos += 3 << ((p & 7) + 1)
	}
	subBlocks := func() bool {
		for pos < len(data) {
			n := int(data[pos])
			pos += 1 + n
			if n == 0 {
				return true
			}
		}
		return false
	}
	for pos < len(data) {
		switch data[pos] {
		case 0x3b:
			return pos + 1, frames, true
		case 0x21:
			pos += 2
		case 0x2c:
			if pos+10 > len(data) {
				return 0, frames, false
			}
			frames++
			p := data[pos+9]
			pos += 10
			if p&0x80 != 0 {
				pos += 3 << ((p & 7) + 1)
			}
			pos++ // the LZW minimum code size
		default:
			return 0, frames, false
		}
		if !subBlocks() {
			return 0, frames, false
		}
	}
	return 0, frames, false
}
