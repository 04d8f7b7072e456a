// Lookout's thin C ABI over TensorRT 10 (feature `tensorrt`): a runtime,
// a deserialized engine, its named I/O tensors, an execution context with
// input shapes and tensor addresses, and enqueueV3 on a caller's stream.
// The safe wrapper is ../tensorrt/ffi.rs + mod.rs. No C++ exception crosses
// this boundary; errors come back as 0/NULL plus a message from
// lk_trt_last_error (per thread: TensorRT logs on the calling thread).

#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

namespace {

thread_local std::string last_error;

void set_error(const char* message) { last_error = message ? message : "unknown error"; }

class Logger final : public nvinfer1::ILogger {
   public:
    void log(Severity severity, const char* message) noexcept override {
        if (severity <= Severity::kERROR) {
            set_error(message);
        }
    }
};

Logger logger;

template <typename F>
auto guarded(F&& body, decltype(body()) failed) noexcept -> decltype(body()) {
    try {
        return body();
    } catch (const std::exception& e) {
        set_error(e.what());
    } catch (...) {
        set_error("unknown C++ exception");
    }
    return failed;
}

}  // namespace

extern "C" {

// getInferLibVersion(): major * 10000 + minor * 100 + patch for TensorRT 10.
int32_t lk_trt_version() { return getInferLibVersion(); }

// Copies the calling thread's last error into buf (NUL-terminated, cut to
// len - 1 bytes); returns its full length.
size_t lk_trt_last_error(char* buf, size_t len) {
    if (buf && len) {
        size_t n = last_error.size() < len - 1 ? last_error.size() : len - 1;
        std::memcpy(buf, last_error.data(), n);
        buf[n] = '\0';
    }
    return last_error.size();
}

void* lk_trt_runtime_create() {
    return guarded([]() -> void* { return nvinfer1::createInferRuntime(logger); },
                   static_cast<void*>(nullptr));
}

void lk_trt_runtime_destroy(void* runtime) { delete static_cast<nvinfer1::IRuntime*>(runtime); }

void* lk_trt_engine_deserialize(void* runtime, const void* data, size_t size) {
    return guarded(
        [&]() -> void* {
            return static_cast<nvinfer1::IRuntime*>(runtime)->deserializeCudaEngine(data, size);
        },
        static_cast<void*>(nullptr));
}

void lk_trt_engine_destroy(void* engine) { delete static_cast<nvinfer1::ICudaEngine*>(engine); }

int32_t lk_trt_engine_io_count(void* engine) {
    return static_cast<nvinfer1::ICudaEngine*>(engine)->getNbIOTensors();
}

// The name of I/O tensor `index` (owned by the engine), or NULL.
const char* lk_trt_engine_io_name(void* engine, int32_t index) {
    return static_cast<nvinfer1::ICudaEngine*>(engine)->getIOTensorName(index);
}

// Mode (0 none, 1 input, 2 output), data type (nvinfer1::DataType value)
// and shape (up to 8 dims; -1 for a dynamic one) of tensor `name`.
int32_t lk_trt_engine_io_info(void* engine, const char* name, int32_t* mode, int32_t* dtype,
                              int32_t* nb_dims, int64_t* dims) {
    auto* e = static_cast<nvinfer1::ICudaEngine*>(engine);
    *mode = static_cast<int32_t>(e->getTensorIOMode(name));
    *dtype = static_cast<int32_t>(e->getTensorDataType(name));
    nvinfer1::Dims shape = e->getTensorShape(name);
    if (shape.nbDims < 0 || shape.nbDims > nvinfer1::Dims::MAX_DIMS) {
        set_error("tensor shape has an invalid rank");
        return 0;
    }
    *nb_dims = shape.nbDims;
    for (int32_t i = 0; i < shape.nbDims; ++i) {
        dims[i] = shape.d[i];
    }
    return 1;
}

void* lk_trt_context_create(void* engine) {
    return guarded(
        [&]() -> void* {
            return static_cast<nvinfer1::ICudaEngine*>(engine)->createExecutionContext();
        },
        static_cast<void*>(nullptr));
}

void lk_trt_context_destroy(void* context) {
    delete static_cast<nvinfer1::IExecutionContext*>(context);
}

int32_t lk_trt_context_set_profile(void* context, int32_t profile, void* stream) {
    return static_cast<nvinfer1::IExecutionContext*>(context)->setOptimizationProfileAsync(
               profile, static_cast<cudaStream_t>(stream))
               ? 1
               : 0;
}

int32_t lk_trt_context_set_input_shape(void* context, const char* name, int32_t nb_dims,
                                       const int64_t* dims) {
    if (nb_dims < 0 || nb_dims > nvinfer1::Dims::MAX_DIMS) {
        set_error("input shape has an invalid rank");
        return 0;
    }
    nvinfer1::Dims shape{};
    shape.nbDims = nb_dims;
    for (int32_t i = 0; i < nb_dims; ++i) {
        shape.d[i] = dims[i];
    }
    return static_cast<nvinfer1::IExecutionContext*>(context)->setInputShape(name, shape) ? 1 : 0;
}

// The shape of tensor `name` as the context resolves it (inputs as set,
// outputs computed from them).
int32_t lk_trt_context_tensor_shape(void* context, const char* name, int32_t* nb_dims,
                                    int64_t* dims) {
    nvinfer1::Dims shape =
        static_cast<nvinfer1::IExecutionContext*>(context)->getTensorShape(name);
    if (shape.nbDims < 0 || shape.nbDims > nvinfer1::Dims::MAX_DIMS) {
        set_error("tensor shape is not resolved");
        return 0;
    }
    *nb_dims = shape.nbDims;
    for (int32_t i = 0; i < shape.nbDims; ++i) {
        dims[i] = shape.d[i];
    }
    return 1;
}

int32_t lk_trt_context_set_tensor_address(void* context, const char* name, void* address) {
    return static_cast<nvinfer1::IExecutionContext*>(context)->setTensorAddress(name, address) ? 1
                                                                                               : 0;
}

int32_t lk_trt_context_enqueue_v3(void* context, void* stream) {
    return static_cast<nvinfer1::IExecutionContext*>(context)->enqueueV3(
               static_cast<cudaStream_t>(stream))
               ? 1
               : 0;
}

}  // extern "C"
