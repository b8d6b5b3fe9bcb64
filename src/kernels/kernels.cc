// placeholder until the kernels land
namespace pipeline::kernels {}
