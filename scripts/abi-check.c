/* abi-check.c: checks, against the real CUDA, cuBLAS and (where present)
 * cuDNN headers, every declaration cnngpu makes itself in the cgo
 * preambles of packages cuda and cudnn: the signature of each function we
 * resolve with dlsym (assigned to a pointer of the type we call it as),
 * each enum value we pass as a number, and the layout of the one struct we
 * read (cuDNN's algorithm performance record). It compiles only where the
 * headers exist; scripts/abi-check.sh builds and runs it.
 *
 * Our declarations use int where the headers have an enum; the checks
 * below use the headers' types for those and assert the enum's size is an
 * int's, which is what makes passing an int correct.
 */
#include <cuda.h>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <stddef.h>
#include <stdio.h>

#define EXPECT(cond) _Static_assert(cond, #cond)
#define SIG(fn, ...) do { __typeof__(__VA_ARGS__) p_ = fn; (void)p_; } while (0)

EXPECT(sizeof(CUresult) == sizeof(int));
EXPECT(sizeof(CUdevice) == sizeof(int));
EXPECT(sizeof(CUdeviceptr) == 8);
EXPECT(sizeof(CUdevice_attribute) == sizeof(int));
EXPECT(CUDA_SUCCESS == 0);
EXPECT(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT == 16);
EXPECT(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == 75);
EXPECT(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == 76);
EXPECT(CU_JIT_ERROR_LOG_BUFFER == 5);
EXPECT(CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES == 6);
EXPECT(CUDA_ERROR_NO_BINARY_FOR_GPU == 209 && CUDA_ERROR_UNSUPPORTED_PTX_VERSION == 222);
EXPECT(CU_STREAM_NON_BLOCKING == 1);
EXPECT(CU_EVENT_DISABLE_TIMING == 2);
EXPECT(CU_EVENT_RECORD_EXTERNAL == 1);
EXPECT(CU_STREAM_CAPTURE_MODE_RELAXED == 2);
EXPECT(CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY == 8);
EXPECT(sizeof(CUstreamCaptureMode) == sizeof(int));
EXPECT(sizeof(cublasStatus_t) == sizeof(int));
EXPECT(sizeof(cublasOperation_t) == sizeof(int));
EXPECT(sizeof(cublasMath_t) == sizeof(int));
EXPECT(CUBLAS_OP_N == 0 && CUBLAS_OP_T == 1);
EXPECT(CUBLAS_DEFAULT_MATH == 0 && CUBLAS_PEDANTIC_MATH == 2 && CUBLAS_TF32_TENSOR_OP_MATH == 3);
EXPECT(MAJOR_VERSION == 0 && MINOR_VERSION == 1 && PATCH_LEVEL == 2);
/* Package cuda, cublaslt.go. */
EXPECT(sizeof(cublasComputeType_t) == sizeof(int) && sizeof(cudaDataType_t) == sizeof(int));
EXPECT(sizeof(cublasLtMatmulDescAttributes_t) == sizeof(int) && sizeof(cublasLtMatmulPreferenceAttributes_t) == sizeof(int));
EXPECT(CUBLAS_COMPUTE_32F == 68 && CUBLAS_COMPUTE_32F_FAST_TF32 == 77 && CUDA_R_32F == 0);
EXPECT(CUBLAS_STATUS_NOT_SUPPORTED == 15);
EXPECT(CUBLASLT_MATMUL_DESC_TRANSA == 3 && CUBLASLT_MATMUL_DESC_TRANSB == 4);
EXPECT(CUBLASLT_MATMUL_DESC_EPILOGUE == 7 && CUBLASLT_MATMUL_DESC_BIAS_POINTER == 8);
EXPECT(CUBLASLT_EPILOGUE_DEFAULT == 1 && CUBLASLT_EPILOGUE_BIAS == 4 && CUBLASLT_EPILOGUE_RELU_BIAS == 6 && CUBLASLT_EPILOGUE_BGRADB == 512);
EXPECT(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES == 1);
EXPECT(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES == 5 && CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES == 6);
EXPECT(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES == 7 && CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES == 8);
/* cublaslt.go's ltResult: algo (8 uint64s), workspaceSize, state,
 * wavesCount, reserved[4]. */
EXPECT(sizeof(cublasLtMatmulAlgo_t) == 64);
EXPECT(sizeof(cublasLtMatmulHeuristicResult_t) == 96);
EXPECT(offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize) == 64);
EXPECT(offsetof(cublasLtMatmulHeuristicResult_t, state) == 72);
EXPECT(offsetof(cublasLtMatmulHeuristicResult_t, wavesCount) == 76);

#if __has_include(<cudnn.h>)
#include <cudnn.h>
EXPECT(sizeof(cudnnStatus_t) == sizeof(int));
EXPECT(CUDNN_TENSOR_NCHW == 0 && CUDNN_DATA_FLOAT == 0 && CUDNN_CROSS_CORRELATION == 1);
EXPECT(CUDNN_DEFAULT_MATH == 0 && CUDNN_FMA_MATH == 3);
EXPECT(sizeof(cudnnPoolingMode_t) == sizeof(int) && sizeof(cudnnNanPropagation_t) == sizeof(int));
EXPECT(sizeof(cudnnActivationMode_t) == sizeof(int));
EXPECT(CUDNN_POOLING_MAX == 0 && CUDNN_NOT_PROPAGATE_NAN == 0);
EXPECT(CUDNN_ACTIVATION_SIGMOID == 0 && CUDNN_ACTIVATION_RELU == 1 && CUDNN_ACTIVATION_TANH == 2);
/* package cudnn's perf_t: algo, status, time, memory, determinism,
 * mathType, reserved[3]. */
EXPECT(sizeof(cudnnConvolutionFwdAlgoPerf_t) == 48);
EXPECT(sizeof(cudnnConvolutionBwdDataAlgoPerf_t) == 48);
EXPECT(sizeof(cudnnConvolutionBwdFilterAlgoPerf_t) == 48);
EXPECT(offsetof(cudnnConvolutionFwdAlgoPerf_t, algo) == 0);
EXPECT(offsetof(cudnnConvolutionFwdAlgoPerf_t, status) == 4);
EXPECT(offsetof(cudnnConvolutionFwdAlgoPerf_t, time) == 8);
EXPECT(offsetof(cudnnConvolutionFwdAlgoPerf_t, memory) == 16);
EXPECT(offsetof(cudnnConvolutionFwdAlgoPerf_t, determinism) == 24);
EXPECT(offsetof(cudnnConvolutionFwdAlgoPerf_t, mathType) == 28);
#define HAVE_CUDNN 1
#endif

int main(void) {
	/* Package cuda, driver.go and context.go. */
	SIG(cuInit, CUresult (*)(unsigned int));
	SIG(cuDriverGetVersion, CUresult (*)(int *));
	SIG(cuDeviceGetCount, CUresult (*)(int *));
	SIG(cuDeviceGet, CUresult (*)(CUdevice *, int));
	SIG(cuDeviceGetName, CUresult (*)(char *, int, CUdevice));
	SIG(cuDeviceTotalMem_v2, CUresult (*)(size_t *, CUdevice));
	SIG(cuDeviceGetAttribute, CUresult (*)(int *, CUdevice_attribute, CUdevice));
	SIG(cuGetErrorName, CUresult (*)(CUresult, const char **));
	SIG(cuGetErrorString, CUresult (*)(CUresult, const char **));
	SIG(cuDevicePrimaryCtxRetain, CUresult (*)(CUcontext *, CUdevice));
	SIG(cuDevicePrimaryCtxRelease_v2, CUresult (*)(CUdevice));
	SIG(cuCtxSetCurrent, CUresult (*)(CUcontext));
	SIG(cuStreamCreate, CUresult (*)(CUstream *, unsigned int));
	SIG(cuStreamCreateWithPriority, CUresult (*)(CUstream *, unsigned int, int));
	SIG(cuCtxGetStreamPriorityRange, CUresult (*)(int *, int *));
	SIG(cuStreamDestroy_v2, CUresult (*)(CUstream));
	SIG(cuStreamSynchronize, CUresult (*)(CUstream));
	SIG(cuMemAlloc_v2, CUresult (*)(CUdeviceptr *, size_t));
	SIG(cuMemFree_v2, CUresult (*)(CUdeviceptr));
	SIG(cuMemGetInfo_v2, CUresult (*)(size_t *, size_t *));
	SIG(cuMemcpyHtoDAsync_v2, CUresult (*)(CUdeviceptr, const void *, size_t, CUstream));
	SIG(cuMemcpyDtoHAsync_v2, CUresult (*)(void *, CUdeviceptr, size_t, CUstream));
	SIG(cuMemcpyDtoDAsync_v2, CUresult (*)(CUdeviceptr, CUdeviceptr, size_t, CUstream));
	SIG(cuMemsetD8Async, CUresult (*)(CUdeviceptr, unsigned char, size_t, CUstream));
	SIG(cuModuleLoadDataEx, CUresult (*)(CUmodule *, const void *, unsigned int, CUjit_option *, void **));
	SIG(cuModuleUnload, CUresult (*)(CUmodule));
	SIG(cuModuleGetFunction, CUresult (*)(CUfunction *, CUmodule, const char *));
	SIG(cuLaunchKernel, CUresult (*)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
	                 unsigned int, CUstream, void **, void **));
	SIG(cuEventCreate, CUresult (*)(CUevent *, unsigned int));
	SIG(cuEventDestroy_v2, CUresult (*)(CUevent));
	SIG(cuEventRecord, CUresult (*)(CUevent, CUstream));
	SIG(cuEventRecordWithFlags, CUresult (*)(CUevent, CUstream, unsigned int));
	SIG(cuEventSynchronize, CUresult (*)(CUevent));
	SIG(cuEventElapsedTime, CUresult (*)(float *, CUevent, CUevent));
	SIG(cuStreamWaitEvent, CUresult (*)(CUstream, CUevent, unsigned int));
	SIG(cuStreamBeginCapture_v2, CUresult (*)(CUstream, CUstreamCaptureMode));
	SIG(cuStreamEndCapture, CUresult (*)(CUstream, CUgraph *));
	SIG(cuGraphInstantiateWithFlags, CUresult (*)(CUgraphExec *, CUgraph, unsigned long long));
	SIG(cuGraphLaunch, CUresult (*)(CUgraphExec, CUstream));
	SIG(cuGraphExecDestroy, CUresult (*)(CUgraphExec));
	SIG(cuGraphDestroy, CUresult (*)(CUgraph));

	/* Package cuda, cublas.go. */
	SIG(cublasGetProperty, cublasStatus_t (*)(libraryPropertyType, int *));
	SIG(cublasCreate_v2, cublasStatus_t (*)(cublasHandle_t *));
	SIG(cublasDestroy_v2, cublasStatus_t (*)(cublasHandle_t));
	SIG(cublasSetStream_v2, cublasStatus_t (*)(cublasHandle_t, cudaStream_t));
	SIG(cublasSetMathMode, cublasStatus_t (*)(cublasHandle_t, cublasMath_t));
	SIG(cublasSetWorkspace_v2, cublasStatus_t (*)(cublasHandle_t, void *, size_t));
	SIG(cublasGetStatusString, const char *(*)(cublasStatus_t));
	SIG(cublasSgemm_v2, cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
	                       const float *, int, const float *, int, const float *, float *, int));

	/* Package cuda, cublaslt.go. */
	SIG(cublasLtCreate, cublasStatus_t (*)(cublasLtHandle_t *));
	SIG(cublasLtDestroy, cublasStatus_t (*)(cublasLtHandle_t));
	SIG(cublasLtGetStatusString, const char *(*)(cublasStatus_t));
	SIG(cublasLtMatmulDescCreate, cublasStatus_t (*)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t));
	SIG(cublasLtMatmulDescDestroy, cublasStatus_t (*)(cublasLtMatmulDesc_t));
	SIG(cublasLtMatmulDescSetAttribute, cublasStatus_t (*)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *, size_t));
	SIG(cublasLtMatrixLayoutCreate, cublasStatus_t (*)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t));
	SIG(cublasLtMatrixLayoutDestroy, cublasStatus_t (*)(cublasLtMatrixLayout_t));
	SIG(cublasLtMatmulPreferenceCreate, cublasStatus_t (*)(cublasLtMatmulPreference_t *));
	SIG(cublasLtMatmulPreferenceDestroy, cublasStatus_t (*)(cublasLtMatmulPreference_t));
	SIG(cublasLtMatmulPreferenceSetAttribute, cublasStatus_t (*)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void *, size_t));
	SIG(cublasLtMatmulAlgoGetHeuristic, cublasStatus_t (*)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
	                      cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t *, int *));
	SIG(cublasLtMatmul, cublasStatus_t (*)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *, cublasLtMatrixLayout_t, const void *,
	                      cublasLtMatrixLayout_t, const void *, const void *, cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,
	                      const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t));

#ifdef HAVE_CUDNN
	/* Package cudnn. */
	SIG(cudnnGetVersion, size_t (*)(void));
	SIG(cudnnGetCudartVersion, size_t (*)(void));
	SIG(cudnnCreate, cudnnStatus_t (*)(cudnnHandle_t *));
	SIG(cudnnDestroy, cudnnStatus_t (*)(cudnnHandle_t));
	SIG(cudnnSetStream, cudnnStatus_t (*)(cudnnHandle_t, cudaStream_t));
	SIG(cudnnGetErrorString, const char *(*)(cudnnStatus_t));
	SIG(cudnnCreateTensorDescriptor, cudnnStatus_t (*)(cudnnTensorDescriptor_t *));
	SIG(cudnnSetTensor4dDescriptor, cudnnStatus_t (*)(cudnnTensorDescriptor_t, cudnnTensorFormat_t, cudnnDataType_t, int, int, int, int));
	SIG(cudnnSetFilter4dDescriptor, cudnnStatus_t (*)(cudnnFilterDescriptor_t, cudnnDataType_t, cudnnTensorFormat_t, int, int, int, int));
	SIG(cudnnSetConvolution2dDescriptor, cudnnStatus_t (*)(cudnnConvolutionDescriptor_t, int, int, int, int, int, int, cudnnConvolutionMode_t, cudnnDataType_t));
	SIG(cudnnSetConvolutionMathType, cudnnStatus_t (*)(cudnnConvolutionDescriptor_t, cudnnMathType_t));
	SIG(cudnnFindConvolutionForwardAlgorithm, cudnnStatus_t (*)(cudnnHandle_t, const cudnnTensorDescriptor_t, const cudnnFilterDescriptor_t, const cudnnConvolutionDescriptor_t,
	                      const cudnnTensorDescriptor_t, const int, int *, cudnnConvolutionFwdAlgoPerf_t *));
	SIG(cudnnFindConvolutionBackwardDataAlgorithm, cudnnStatus_t (*)(cudnnHandle_t, const cudnnFilterDescriptor_t, const cudnnTensorDescriptor_t, const cudnnConvolutionDescriptor_t,
	                      const cudnnTensorDescriptor_t, const int, int *, cudnnConvolutionBwdDataAlgoPerf_t *));
	SIG(cudnnFindConvolutionBackwardFilterAlgorithm, cudnnStatus_t (*)(cudnnHandle_t, const cudnnTensorDescriptor_t, const cudnnTensorDescriptor_t, const cudnnConvolutionDescriptor_t,
	                      const cudnnFilterDescriptor_t, const int, int *, cudnnConvolutionBwdFilterAlgoPerf_t *));
	SIG(cudnnConvolutionForward, cudnnStatus_t (*)(cudnnHandle_t, const void *, const cudnnTensorDescriptor_t, const void *, const cudnnFilterDescriptor_t, const void *,
	                      const cudnnConvolutionDescriptor_t, cudnnConvolutionFwdAlgo_t, void *, size_t, const void *,
	                      const cudnnTensorDescriptor_t, void *));
	SIG(cudnnConvolutionBackwardData, cudnnStatus_t (*)(cudnnHandle_t, const void *, const cudnnFilterDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *,
	                      const cudnnConvolutionDescriptor_t, cudnnConvolutionBwdDataAlgo_t, void *, size_t, const void *,
	                      const cudnnTensorDescriptor_t, void *));
	SIG(cudnnConvolutionBackwardFilter, cudnnStatus_t (*)(cudnnHandle_t, const void *, const cudnnTensorDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *,
	                      const cudnnConvolutionDescriptor_t, cudnnConvolutionBwdFilterAlgo_t, void *, size_t, const void *,
	                      const cudnnFilterDescriptor_t, void *));
	/* Package cudnn, ops.go. */
	SIG(cudnnCreatePoolingDescriptor, cudnnStatus_t (*)(cudnnPoolingDescriptor_t *));
	SIG(cudnnDestroyPoolingDescriptor, cudnnStatus_t (*)(cudnnPoolingDescriptor_t));
	SIG(cudnnSetPooling2dDescriptor, cudnnStatus_t (*)(cudnnPoolingDescriptor_t, cudnnPoolingMode_t, cudnnNanPropagation_t, int, int, int, int, int, int));
	SIG(cudnnPoolingForward, cudnnStatus_t (*)(cudnnHandle_t, const cudnnPoolingDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *,
	                      const void *, const cudnnTensorDescriptor_t, void *));
	SIG(cudnnPoolingBackward, cudnnStatus_t (*)(cudnnHandle_t, const cudnnPoolingDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *,
	                      const cudnnTensorDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *, const void *,
	                      const cudnnTensorDescriptor_t, void *));
	SIG(cudnnCreateActivationDescriptor, cudnnStatus_t (*)(cudnnActivationDescriptor_t *));
	SIG(cudnnDestroyActivationDescriptor, cudnnStatus_t (*)(cudnnActivationDescriptor_t));
	SIG(cudnnSetActivationDescriptor, cudnnStatus_t (*)(cudnnActivationDescriptor_t, cudnnActivationMode_t, cudnnNanPropagation_t, double));
	SIG(cudnnActivationForward, cudnnStatus_t (*)(cudnnHandle_t, cudnnActivationDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *,
	                      const void *, const cudnnTensorDescriptor_t, void *));
	SIG(cudnnActivationBackward, cudnnStatus_t (*)(cudnnHandle_t, cudnnActivationDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *,
	                      const cudnnTensorDescriptor_t, const void *, const cudnnTensorDescriptor_t, const void *, const void *,
	                      const cudnnTensorDescriptor_t, void *));
	SIG(cudnnConvolutionBackwardBias, cudnnStatus_t (*)(cudnnHandle_t, const void *, const cudnnTensorDescriptor_t, const void *, const void *,
	                      const cudnnTensorDescriptor_t, void *));
	SIG(cudnnAddTensor, cudnnStatus_t (*)(cudnnHandle_t, const void *, const cudnnTensorDescriptor_t, const void *, const void *,
	                      const cudnnTensorDescriptor_t, void *));
	puts("ABI check passed: CUDA driver, cuBLAS, cuBLASLt and cuDNN declarations match the headers");
#else
	puts("ABI check passed for the CUDA driver, cuBLAS and cuBLASLt (no cudnn.h here: cuDNN not checked)");
#endif
	return 0;
}
