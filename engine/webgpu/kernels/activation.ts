/**
 * GELU for the GEMM epilogue. WGSL has no erf, so erf is a rational approximation: the odd/even
 * polynomial ratio that Eigen and XLA use for float32 (|x| clamped to 4, where erf is 1 in fp32).
 * Its error is a few fp32 ulps; `erfF32` below evaluates the same formula in float32 on the CPU so
 * the test can hold the coefficients to a float64 erf without a GPU.
 */

/** Numerator coefficients (odd powers), highest first: x * P(x^2). */
export const ERF_ALPHA = [
  -2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5, -7.34990630326855e-4,
  -2.95459980854025e-3, -1.60960333262415e-2,
] as const;
/** Denominator coefficients (even powers), highest first: Q(x^2). */
export const ERF_BETA = [
  -1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3, -1.42647390514189e-2,
] as const;

const lit = (v: number) => {
  const s = v.toExponential(14);
  return s.includes('e') ? s.replace('e+', 'e') : s;
};

/** Horner's rule on vec4 `x` with fma (fma does not splat scalars, hence the vec4 constructors). */
function hornerWgsl(coeffs: readonly number[], x: string): string {
  const v = (c: number) => `vec4<f32>(${lit(c)})`;
  let e = v(coeffs[0]!);
  for (let i = 1; i < coeffs.length; i++) e = `fma(${x}, ${e}, ${v(coeffs[i]!)})`;
  return e;
}

/** WGSL functions `erf_f32`, `gelu_erf`, `gelu_tanh` (scalar and vec4). */
export const GELU_WGSL = /* wgsl */ `
fn erf_v4(a: vec4<f32>) -> vec4<f32> {
  let x = clamp(a, vec4<f32>(-4.0), vec4<f32>(4.0));
  let x2 = x * x;
  let p = x * ${hornerWgsl(ERF_ALPHA, 'x2')};
  let q = ${hornerWgsl(ERF_BETA, 'x2')};
  return p / q;
}
fn gelu_erf_v4(x: vec4<f32>) -> vec4<f32> {
  return 0.5 * x * (1.0 + erf_v4(x * 0.70710678118654752));
}
// tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). tanh via exp of a negative argument
// so that large |u| cannot overflow.
fn gelu_tanh_v4(x: vec4<f32>) -> vec4<f32> {
  let u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
  let e = exp(-2.0 * abs(u));
  let t = sign(u) * (1.0 - e) / (1.0 + e);
  return 0.5 * x * (1.0 + t);
}
`;

/** The WGSL erf evaluated step by step in float32 (Math.fround after each operation; fma rounds once). */
export function erfF32(a: number): number {
  const f = Math.fround;
  const x = f(Math.min(4, Math.max(-4, a)));
  const x2 = f(x * x);
  const horner = (c: readonly number[]) => {
    let e = f(c[0]!);
    for (let i = 1; i < c.length; i++) e = f(x2 * e + f(c[i]!));
    return e;
  };
  return f(f(x * horner(ERF_ALPHA)) / horner(ERF_BETA));
}
