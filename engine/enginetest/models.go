// models.go: weights made for tests of what uses a model (serve, export):
// a model whose outputs overflow on some images and not on others.

package enginetest

import "github.com/cnngpu/cnngpu/engine"

// OverflowsOnStrokes is a model (the original preset: unpadded 5×5
// convolutions, ReLU) whose first convolution answers changes down a
// column alone (each filter: the pixel above less the one four rows
// below), with every later weight 1e30: an image with no such change (one
// shade throughout, or a bar from the top edge to the bottom) gives
// finite outputs, a digit's strokes overflow them to NaN.
func OverflowsOnStrokes() (engine.Arch, []float32) {
	arch, err := engine.NewArch("original", engine.ReLU)
	if err != nil {
		panic(err)
	}
	w := make([]float32, arch.NumParams())
	ps := arch.Params()
	for _, s := range ps[2:] {
		if !s.Bias {
			for i := s.Off; i < s.Off+s.Len(); i++ {
				w[i] = 1e30
			}
		}
	}
	for f := 0; f < ps[0].Len()/25; f++ { // conv1.weight: (32,1,5,5)
		w[ps[0].Off+25*f+2], w[ps[0].Off+25*f+22] = 1, -1
	}
	return arch, w
}
