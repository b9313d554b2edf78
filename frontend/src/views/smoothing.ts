/** Smoothing of training curves, as TensorBoard draws them. */

/** TensorBoard's debiased exponential moving average (non-finite values pass through). */
export function smoothEma(values: number[], weight: number): number[] {
  if (weight <= 0 || values.length === 0) return values.slice();
  const first = values.find(Number.isFinite);
  if (values.every((v) => !Number.isFinite(v) || v === first)) return values.slice();
  let last = 0, n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n += 1;
    return last / (1 - weight ** n);
  });
}
