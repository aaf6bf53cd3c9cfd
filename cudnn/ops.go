//go:build cgo && !windows

// ops.go: cuDNN's other layer operations on float32 NCHW tensors: max
// pooling forward and backward, activation forward and backward (sigmoid,
// ReLU, tanh), the convolution bias gradient, and adding a broadcast
// tensor. The GPU engine runs its own fused kernels for these; its GPU
// tests use these calls as a second, independent implementation to check
// those kernels against on the device. The functions are resolved when
// the handle is made but only required by the call that uses them, so a
// cuDNN without one of them still runs the convolutions.

package cudnn

/*
#include <stddef.h>
typedef int cudnnStatus_t;
typedef void *cudnnHandle_t;

typedef cudnnStatus_t (*f_createDesc)(void **);
typedef cudnnStatus_t (*f_destroyDesc)(void *);
// cudnnSetTensor4dDescriptor(desc, format NCHW 0, dataType FLOAT 0, n, c, h, w)
typedef cudnnStatus_t (*f_setTensor4d)(void *, int, int, int, int, int, int);
// cudnnSetPooling2dDescriptor(desc, mode, nanOpt, wh, ww, padh, padw, strideh, stridew)
typedef cudnnStatus_t (*f_setPool2d)(void *, int, int, int, int, int, int, int, int);
// cudnnSetActivationDescriptor(desc, mode, reluNanOpt, coef)
typedef cudnnStatus_t (*f_setAct)(void *, int, int, double);
// cudnnPoolingForward / cudnnActivationForward(h, desc, alpha, xD, x, beta, yD, y)
typedef cudnnStatus_t (*f_fwd)(cudnnHandle_t, void *, const void *, void *, const void *, const void *, void *, void *);
// cudnnPoolingBackward / cudnnActivationBackward(h, desc, alpha, yD, y, dyD, dy, xD, x, beta, dxD, dx)
typedef cudnnStatus_t (*f_bwd)(cudnnHandle_t, void *, const void *, void *, const void *, void *, const void *, void *,
                               const void *, const void *, void *, void *);
// cudnnConvolutionBackwardBias(h, alpha, dyD, dy, beta, dbD, db) and
// cudnnAddTensor(h, alpha, aD, a, beta, cD, c)
typedef cudnnStatus_t (*f_two)(cudnnHandle_t, const void *, void *, const void *, const void *, void *, void *);

static cudnnStatus_t o_createDesc(void *f, void **d) { return ((f_createDesc)f)(d); }
static cudnnStatus_t o_destroyDesc(void *f, void *d) { return ((f_destroyDesc)f)(d); }
static cudnnStatus_t o_setTensor4d(void *f, void *d, int n, int c, int h, int w) { return ((f_setTensor4d)f)(d, 0, 0, n, c, h, w); }
// CUDNN_POOLING_MAX 0, CUDNN_NOT_PROPAGATE_NAN 0; square window = stride, no padding.
static cudnnStatus_t o_setMaxPool(void *f, void *d, int size) { return ((f_setPool2d)f)(d, 0, 0, size, size, 0, 0, size, size); }
static cudnnStatus_t o_setAct(void *f, void *d, int mode) { return ((f_setAct)f)(d, mode, 0, 0.0); }
static cudnnStatus_t o_fwd(void *f, cudnnHandle_t h, void *desc, void *xd, unsigned long long x, void *yd, unsigned long long y) {
	float alpha = 1.0f, beta = 0.0f;
	return ((f_fwd)f)(h, desc, &alpha, xd, (const void *)x, &beta, yd, (void *)y);
}
static cudnnStatus_t o_bwd(void *f, cudnnHandle_t h, void *desc, void *yd, unsigned long long y, unsigned long long dy,
                           void *xd, unsigned long long x, unsigned long long dx) {
	float alpha = 1.0f, beta = 0.0f;
	return ((f_bwd)f)(h, desc, &alpha, yd, (const void *)y, yd, (const void *)dy, xd, (const void *)x, &beta, xd, (void *)dx);
}
static cudnnStatus_t o_two(void *f, cudnnHandle_t h, void *ad, unsigned long long a, float beta, void *cd, unsigned long long c) {
	float alpha = 1.0f;
	return ((f_two)f)(h, &alpha, ad, (const void *)a, &beta, cd, (void *)c);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// opsFuncs are the functions ops.go calls, required only when called.
var opsFuncs = []string{
	"cudnnCreatePoolingDescriptor", "cudnnDestroyPoolingDescriptor", "cudnnSetPooling2dDescriptor",
	"cudnnPoolingForward", "cudnnPoolingBackward",
	"cudnnCreateActivationDescriptor", "cudnnDestroyActivationDescriptor", "cudnnSetActivationDescriptor",
	"cudnnActivationForward", "cudnnActivationBackward",
	"cudnnConvolutionBackwardBias", "cudnnAddTensor",
}

// Activation modes (cudnnActivationMode_t).
const (
	ActSigmoid = 0
	ActReLU    = 1
	ActTanh    = 2
)

// need returns an error naming the first of fns this cuDNN lacks.
func (h *Handle) need(fns ...string) error {
	for _, f := range fns {
		if h.fn[f] == nil {
			return fmt.Errorf("%s lacks %s (a legacy cuDNN call the GPU engine's tests use)", h.lib, f)
		}
	}
	return nil
}

// Tensor describes a float32 NCHW tensor.
type Tensor struct {
	h          *Handle
	d          unsafe.Pointer
	N, C, H, W int
}

// NewTensor describes an n×c×hh×ww float32 NCHW tensor.
func (h *Handle) NewTensor(n, c, hh, ww int) (*Tensor, error) {
	t := &Tensor{h: h, N: n, C: c, H: hh, W: ww}
	var d unsafe.Pointer
	if err := h.check("cudnnCreateTensorDescriptor", C.o_createDesc(h.fn["cudnnCreateTensorDescriptor"], &d)); err != nil {
		return nil, err
	}
	t.d = d
	if err := h.check("cudnnSetTensor4dDescriptor", C.o_setTensor4d(h.fn["cudnnSetTensor4dDescriptor"], d, C.int(n), C.int(c), C.int(hh), C.int(ww))); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Close destroys the descriptor.
func (t *Tensor) Close() { C.o_destroyDesc(t.h.fn["cudnnDestroyTensorDescriptor"], t.d) }

// Pooling is max pooling over square windows with a stride of the window's
// size and no padding.
type Pooling struct {
	h *Handle
	d unsafe.Pointer
}

// NewMaxPool describes max pooling over size×size windows.
func (h *Handle) NewMaxPool(size int) (*Pooling, error) {
	if err := h.need("cudnnCreatePoolingDescriptor", "cudnnDestroyPoolingDescriptor", "cudnnSetPooling2dDescriptor",
		"cudnnPoolingForward", "cudnnPoolingBackward"); err != nil {
		return nil, err
	}
	var d unsafe.Pointer
	if err := h.check("cudnnCreatePoolingDescriptor", C.o_createDesc(h.fn["cudnnCreatePoolingDescriptor"], &d)); err != nil {
		return nil, err
	}
	p := &Pooling{h: h, d: d}
	if err := h.check("cudnnSetPooling2dDescriptor", C.o_setMaxPool(h.fn["cudnnSetPooling2dDescriptor"], d, C.int(size))); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close destroys the descriptor.
func (p *Pooling) Close() { C.o_destroyDesc(p.h.fn["cudnnDestroyPoolingDescriptor"], p.d) }

// Forward queues y = maxpool(x).
func (p *Pooling) Forward(x *Tensor, xp uint64, y *Tensor, yp uint64) error {
	h := p.h
	return h.check("cudnnPoolingForward", C.o_fwd(h.fn["cudnnPoolingForward"], h.h, p.d, x.d, C.ulonglong(xp), y.d, C.ulonglong(yp)))
}

// Backward queues dx: dy routed to each window's maximum of x (y =
// maxpool(x)).
func (p *Pooling) Backward(y *Tensor, yp, dyp uint64, x *Tensor, xp, dxp uint64) error {
	h := p.h
	return h.check("cudnnPoolingBackward", C.o_bwd(h.fn["cudnnPoolingBackward"], h.h, p.d, y.d, C.ulonglong(yp), C.ulonglong(dyp),
		x.d, C.ulonglong(xp), C.ulonglong(dxp)))
}

// Activation is an elementwise activation (ActSigmoid, ActReLU, ActTanh).
type Activation struct {
	h *Handle
	d unsafe.Pointer
}

// NewActivation describes activation mode.
func (h *Handle) NewActivation(mode int) (*Activation, error) {
	if err := h.need("cudnnCreateActivationDescriptor", "cudnnDestroyActivationDescriptor", "cudnnSetActivationDescriptor",
		"cudnnActivationForward", "cudnnActivationBackward"); err != nil {
		return nil, err
	}
	var d unsafe.Pointer
	if err := h.check("cudnnCreateActivationDescriptor", C.o_createDesc(h.fn["cudnnCreateActivationDescriptor"], &d)); err != nil {
		return nil, err
	}
	a := &Activation{h: h, d: d}
	if err := h.check("cudnnSetActivationDescriptor", C.o_setAct(h.fn["cudnnSetActivationDescriptor"], d, C.int(mode))); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close destroys the descriptor.
func (a *Activation) Close() { C.o_destroyDesc(a.h.fn["cudnnDestroyActivationDescriptor"], a.d) }

// Forward queues y = f(x); x and y are described by t.
func (a *Activation) Forward(t *Tensor, x, y uint64) error {
	h := a.h
	return h.check("cudnnActivationForward", C.o_fwd(h.fn["cudnnActivationForward"], h.h, a.d, t.d, C.ulonglong(x), t.d, C.ulonglong(y)))
}

// Backward queues dx = dy·f'(x), given y = f(x); all described by t.
func (a *Activation) Backward(t *Tensor, y, dy, x, dx uint64) error {
	h := a.h
	return h.check("cudnnActivationBackward", C.o_bwd(h.fn["cudnnActivationBackward"], h.h, a.d, t.d, C.ulonglong(y), C.ulonglong(dy),
		t.d, C.ulonglong(x), C.ulonglong(dx)))
}

// BackwardBias queues db (described 1×K×1×1) = the sums of dy (N×K×H×W)
// over N, H and W.
func (h *Handle) BackwardBias(dy *Tensor, dyp uint64, db *Tensor, dbp uint64) error {
	if err := h.need("cudnnConvolutionBackwardBias"); err != nil {
		return err
	}
	return h.check("cudnnConvolutionBackwardBias", C.o_two(h.fn["cudnnConvolutionBackwardBias"], h.h, dy.d, C.ulonglong(dyp), 0, db.d, C.ulonglong(dbp)))
}

// AddTensor queues c += a, a broadcast along the dimensions where it has
// size 1 (a bias 1×K×1×1 over N×K×H×W).
func (h *Handle) AddTensor(a *Tensor, ap uint64, c *Tensor, cp uint64) error {
	if err := h.need("cudnnAddTensor"); err != nil {
		return err
	}
	return h.check("cudnnAddTensor", C.o_two(h.fn["cudnnAddTensor"], h.h, a.d, C.ulonglong(ap), 1, c.d, C.ulonglong(cp)))
}
