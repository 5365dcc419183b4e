// The fused ops against their ATen references and against finite differences.
// On the CPU the fused path runs the kernels' element functions in a host loop, so the autograd
// wiring (backward, double backward) and the kernel math are checked here, in CI, without a GPU.
// The CUDA cases compare the real kernels with the reference and skip, saying so, without CUDA.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "deepzine/ops/fused.h"
#include "deepzine/ops/ops.h"
#include "deepzine/ops/reference.h"

namespace ops = deepzine::ops;
using torch::Tensor;
using Inputs = std::vector<Tensor>;
using OpFn = std::function<Tensor(const Inputs&)>;

namespace {

struct OpCase {
  std::string name;
  std::vector<std::vector<int64_t>> shapes;  // inputs (x first)
  OpFn fused, ref;
  bool channels_last = false;
};
void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

std::vector<OpCase> cases() {
  auto bias_act = [](double slope, double gain, bool pn) {
    return std::make_pair(
        OpFn([=](const Inputs& in) { return ops::fused::bias_act(in[0], in.size() > 1 ? in[1] : Tensor(), slope, gain, pn, 1e-8); }),
        OpFn([=](const Inputs& in) { return ops::reference::bias_act(in[0], in.size() > 1 ? in[1] : Tensor(), slope, gain, pn, 1e-8); }));
  };
  auto mbstd = [](int64_t g) {
    return std::make_pair(OpFn([=](const Inputs& in) { return ops::fused::minibatch_stddev(in[0], g, 1e-8); }),
                          OpFn([=](const Inputs& in) { return ops::reference::minibatch_stddev(in[0], g, 1e-8); }));
  };
  auto up = std::make_pair(OpFn([](const Inputs& in) { return ops::fused::upsample_lerp(in[0], in[1], 0.3); }),
                           OpFn([](const Inputs& in) { return ops::reference::upsample_lerp(in[0], in[1], 0.3); }));
  auto down = std::make_pair(OpFn([](const Inputs& in) { return ops::fused::downsample_lerp(in[0], in[1], 0.6); }),
                             OpFn([](const Inputs& in) { return ops::reference::downsample_lerp(in[0], in[1], 0.6); }));
  std::vector<OpCase> c;
  auto add = [&](std::string name, std::vector<std::vector<int64_t>> shapes, std::pair<OpFn, OpFn> fns, bool cl = false) {
    c.push_back({std::move(name), std::move(shapes), fns.first, fns.second, cl});
  };
  add("bias_lrelu_nchw", {{3, 5, 7, 9}, {5}}, bias_act(0.2, 1.0, false));
  add("bias_lrelu_gain_2d", {{6, 11}, {11}}, bias_act(0.2, 1.7, false));
  add("bias_linear", {{2, 3, 5, 5}, {3}}, bias_act(1.0, 1.0, false));
  add("lrelu_no_bias", {{2, 4, 3, 1}}, bias_act(0.2, 1.0, false));
  add("bias_lrelu_channels_last", {{2, 6, 5, 3}, {6}}, bias_act(0.2, 1.0, false), true);
  add("bias_lrelu_pixnorm", {{3, 6, 5, 7}, {6}}, bias_act(0.2, 1.0, true));
  add("lrelu_pixnorm_2d", {{4, 9}}, bias_act(0.2, 1.3, true));
  add("pixnorm_channels_last", {{2, 5, 3, 4}, {5}}, bias_act(0.2, 1.0, true), true);
  add("mbstd_g4", {{8, 5, 3, 3}}, mbstd(4));
  add("mbstd_g2_odd", {{6, 3, 5, 7}}, mbstd(2));
  add("mbstd_whole_batch", {{3, 7, 1, 1}}, mbstd(4));
  add("upsample_lerp", {{2, 3, 5, 7}, {2, 3, 10, 14}}, up);
  add("downsample_lerp", {{3, 4, 6, 10}, {3, 4, 3, 5}}, down);
  return c;
}

Inputs make_inputs(const OpCase& c, torch::TensorOptions opt, uint64_t seed) {
  torch::manual_seed(seed);
  Inputs in;
  for (const auto& s : c.shapes) {
    Tensor t = torch::randn(s, opt.dtype(torch::kDouble)).to(opt.dtype());
    if (c.channels_last && t.dim() == 4) t = t.contiguous(at::MemoryFormat::ChannelsLast);
    in.push_back(t.requires_grad_(true));
  }
  return in;
}

double rel(const Tensor& a, const Tensor& b) {
  auto d = (a.to(torch::kDouble) - b.to(torch::kDouble)).norm().item<double>();
  return d / std::max(b.to(torch::kDouble).norm().item<double>(), 1e-30);
}

// <f(in), w>, its first derivatives, and the derivatives of <grad, v> (second order), for one op.
struct Derivs {
  Tensor out;
  Inputs grad, grad2;
};
Derivs derivs(const OpFn& f, const Inputs& in, uint64_t seed) {
  Derivs d;
  d.out = f(in);
  torch::manual_seed(seed + 99);
  auto w = torch::randn_like(d.out, d.out.options().memory_format(at::MemoryFormat::Contiguous));
  d.grad = torch::autograd::grad({(d.out * w).sum()}, in, {}, /*retain_graph=*/true, /*create_graph=*/true);
  Tensor s = torch::zeros({}, d.out.options());
  for (auto& g : d.grad) s = s + (g * torch::randn_like(g, g.options().memory_format(at::MemoryFormat::Contiguous))).sum();
  // A linear op's gradient does not depend on its inputs: its second derivatives are zero.
  if (s.requires_grad()) d.grad2 = torch::autograd::grad({s}, in, {}, true, false, /*allow_unused=*/true);
  d.grad2.resize(in.size());
  for (size_t i = 0; i < d.grad2.size(); ++i)
    if (!d.grad2[i].defined()) d.grad2[i] = torch::zeros_like(in[i]);
  return d;
}

class OpsTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpsTest, FusedMatchesReferenceUpToSecondOrderInDouble) {
  const auto& c = GetParam();
  auto in = make_inputs(c, torch::kDouble, 1);
  auto f = derivs(c.fused, in, 7), r = derivs(c.ref, in, 7);
  ASSERT_EQ(f.out.sizes(), r.out.sizes());
  EXPECT_LT(rel(f.out, r.out), 1e-12) << c.name;
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_LT(rel(f.grad[i], r.grad[i]), 1e-12) << c.name << " grad of input " << i;
    // Second derivatives of piecewise-linear ops can be exactly zero: compare absolutely then.
    if (r.grad2[i].norm().item<double>() > 1e-12)
      EXPECT_LT(rel(f.grad2[i], r.grad2[i]), 1e-10) << c.name << " double backward of input " << i;
    else
      EXPECT_LT(f.grad2[i].abs().max().item<double>(), 1e-10) << c.name << " double backward of input " << i;
  }
}

TEST_P(OpsTest, FusedMatchesReferenceInFloat) {
  const auto& c = GetParam();
  auto in = make_inputs(c, torch::kFloat, 2);
  auto f = derivs(c.fused, in, 3), r = derivs(c.ref, in, 3);
  EXPECT_LT(rel(f.out, r.out), 1e-6) << c.name;
  for (size_t i = 0; i < in.size(); ++i) EXPECT_LT(rel(f.grad[i], r.grad[i]), 1e-5) << c.name << " input " << i;
}

// Central differences in double along a random direction, for the first derivative and for the
// derivative of the gradient (the gradient penalty's second order), of both implementations.
void check_finite_differences(const OpFn& f, const OpCase& c, const char* which) {
  auto in = make_inputs(c, torch::kDouble, 5);
  torch::manual_seed(11);
  Tensor w = torch::randn_like(f(in).detach());
  Inputs dir, v;
  for (auto& t : in) dir.push_back(torch::randn_like(t));
  for (auto& t : in) v.push_back(torch::randn_like(t));
  auto shifted = [&](double h) {
    Inputs s;
    for (size_t i = 0; i < in.size(); ++i) s.push_back((in[i].detach() + h * dir[i]).requires_grad_(true));
    return s;
  };
  auto value = [&](const Inputs& x) { return (f(x) * w).sum(); };
  auto grad_dot_v = [&](const Inputs& x, bool create) {
    auto g = torch::autograd::grad({value(x)}, x, {}, true, create);
    Tensor s = torch::zeros({}, torch::kDouble);
    for (size_t i = 0; i < g.size(); ++i) s = s + (g[i] * v[i]).sum();
    return s;
  };
  const double h = 1e-6;
  auto g = torch::autograd::grad({value(in)}, in);
  double analytic = 0;
  for (size_t i = 0; i < in.size(); ++i) analytic += (g[i] * dir[i]).sum().item<double>();
  double numeric = (value(shifted(h)).item<double>() - value(shifted(-h)).item<double>()) / (2 * h);
  EXPECT_NEAR(analytic, numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << c.name << " (" << which << ") first order";

  Tensor gv = grad_dot_v(in, true);
  Inputs g2 = gv.requires_grad() ? torch::autograd::grad({gv}, in, {}, false, false, true) : Inputs(in.size());
  double analytic2 = 0;
  for (size_t i = 0; i < in.size(); ++i)
    if (g2[i].defined()) analytic2 += (g2[i] * dir[i]).sum().item<double>();
  double numeric2 =
      (grad_dot_v(shifted(h), false).item<double>() - grad_dot_v(shifted(-h), false).item<double>()) / (2 * h);
  EXPECT_NEAR(analytic2, numeric2, 1e-5 * std::max(1.0, std::abs(numeric2))) << c.name << " (" << which << ") second order";
}

TEST_P(OpsTest, ReferenceMatchesFiniteDifferences) { check_finite_differences(GetParam().ref, GetParam(), "reference"); }
TEST_P(OpsTest, FusedMatchesFiniteDifferences) { check_finite_differences(GetParam().fused, GetParam(), "fused"); }

// The real CUDA kernels: fp32 within 1e-5 of the reference (forward, backward, double backward),
// bf16 within 1e-2 of the fp32 reference on the same (rounded) inputs.
TEST_P(OpsTest, CudaKernelsMatchReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the CUDA kernels are checked on a GPU machine";
  if (!ops::cuda_kernels_compiled()) GTEST_SKIP() << "this build has no CUDA kernels (LibTorch without CUDA)";
  const auto& c = GetParam();
  auto in = make_inputs(c, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA), 4);
  auto f = derivs(c.fused, in, 5), r = derivs(c.ref, in, 5);
  EXPECT_LT(rel(f.out, r.out), 1e-5) << c.name;
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_LT(rel(f.grad[i], r.grad[i]), 1e-5) << c.name << " grad " << i;
    if (r.grad2[i].norm().item<double>() > 1e-6) {
      EXPECT_LT(rel(f.grad2[i], r.grad2[i]), 1e-5) << c.name << " grad2 " << i;
    }
  }
  auto in16 = make_inputs(c, torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA), 4);
  Inputs in32;
  for (auto& t : in16) in32.push_back(t.detach().to(torch::kFloat).requires_grad_(true));
  auto f16 = derivs(c.fused, in16, 5), r32 = derivs(c.ref, in32, 5);
  EXPECT_LT(rel(f16.out, r32.out), 1e-2) << c.name << " bf16";
  for (size_t i = 0; i < in.size(); ++i) EXPECT_LT(rel(f16.grad[i], r32.grad[i]), 1e-2) << c.name << " bf16 grad " << i;
}

INSTANTIATE_TEST_SUITE_P(Ops, OpsTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<OpCase>& i) { return i.param.name; });

TEST(Ops, DispatchFollowsTheSwitchesAndTheDevice) {
  using c10::DeviceType;
  ops::set_host_kernels_enabled(false);
  ops::set_cuda_kernels_enabled(true);
  // CUDA tensors take the kernels exactly when this build has them and the switch is on.
  EXPECT_EQ(ops::dispatches_to_fused(DeviceType::CUDA, torch::kFloat), ops::cuda_kernels_compiled());
  ops::set_cuda_kernels_enabled(false);
  EXPECT_FALSE(ops::dispatches_to_fused(DeviceType::CUDA, torch::kFloat));
  ops::set_cuda_kernels_enabled(true);
  // CPU tensors take the reference unless the host twins are switched on (float32/64 only).
  EXPECT_FALSE(ops::dispatches_to_fused(DeviceType::CPU, torch::kFloat));
  ops::set_host_kernels_enabled(true);
  EXPECT_TRUE(ops::dispatches_to_fused(DeviceType::CPU, torch::kFloat));
  EXPECT_TRUE(ops::dispatches_to_fused(DeviceType::CPU, torch::kDouble));
  EXPECT_FALSE(ops::dispatches_to_fused(DeviceType::CPU, torch::kBFloat16));
  // And the route taken gives the reference's numbers.
  auto x = torch::randn({2, 3, 4, 4});
  auto b = torch::randn({3});
  auto fused = ops::bias_act(x, b, 0.2, 1.0, true, 1e-8);
  ops::set_host_kernels_enabled(false);
  auto reference = ops::bias_act(x, b, 0.2, 1.0, true, 1e-8);
  EXPECT_TRUE(torch::equal(reference, ops::reference::bias_act(x, b, 0.2, 1.0, true, 1e-8)));
  EXPECT_TRUE(torch::allclose(fused, reference, 1e-5, 1e-6));
}

TEST(Ops, BadShapesAreReportedByName) {
  auto x = torch::randn({6, 3, 4, 4});
  try {
    ops::fused::minibatch_stddev(x, 4, 1e-8);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("minibatch_stddev: batch 6 is not divisible by group size 4"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ops::fused::upsample_lerp(torch::randn({1, 3, 4, 4}), torch::randn({1, 3, 8, 6}), 0.5), c10::Error);
  EXPECT_THROW(ops::fused::bias_act(x, torch::randn({4}), 0.2, 1.0, false, 1e-8), c10::Error);
  EXPECT_THROW(ops::fused::bias_act(x.to(torch::kInt), torch::Tensor(), 0.2, 1.0, false, 1e-8), c10::Error);
}

}  // namespace
