import type { Dim, GraphBuilder, NodeRecord, Tensor } from './graph-builder.js';
import { GRADIENT_RULES } from './gradient-rules.js';

/**
 * Reverse-mode differentiation at graph-build time: walks the nodes that lie between the
 * `wrt` tensors and the scalar `loss` backwards and emits each op's gradient rule as more
 * ONNX nodes into the same graph. Returns d loss / d wrt[i], each shaped like wrt[i].
 * Nodes off that path (masks, positions, constants) are never differentiated, so only
 * the ops on a trainable path need a rule; a missing one is named.
 */
export function addGradients(g: GraphBuilder, loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  if (loss.shape.length !== 0)
    throw new Error(`autodiff: the loss ${loss.name} must be a scalar, got shape [${loss.shape}]`);
  const records = g.nodeRecords();
  const dependsOnWrt = new Set(wrt.map((t) => t.name));
  for (const record of records) {
    if (record.inputs.some((input) => input && dependsOnWrt.has(input.name))) dependsOnWrt.add(record.output.name);
  }
  if (!dependsOnWrt.has(loss.name)) throw new Error('autodiff: the loss does not depend on any trainable tensor');

  const grads = new Map<string, Tensor>([[loss.name, g.scalar(1, 'd_loss')]]);
  for (let i = records.length - 1; i >= 0; i--) {
    const record = records[i]!;
    const gradOut = grads.get(record.output.name);
    if (!gradOut || !dependsOnWrt.has(record.output.name)) continue;
    const rule = GRADIENT_RULES[record.type];
    if (!rule) throw new Error(`autodiff: no gradient rule for ${record.type} (node producing ${record.output.name})`);
    const needed = record.inputs.map((input) => !!input && dependsOnWrt.has(input.name));
    const inputGrads = rule(new GradientContext(g), record, gradOut, needed);
    record.inputs.forEach((input, index) => {
      const grad = inputGrads[index];
      if (!input || !needed[index] || !grad) return;
      const previous = grads.get(input.name);
      grads.set(input.name, previous ? g.op('Add', [previous, grad], { shape: [...input.shape] }) : grad);
    });
  }
  return wrt.map((t) => {
    const grad = grads.get(t.name);
    if (!grad) throw new Error(`autodiff: the loss does not depend on ${t.name}`);
    return grad;
  });
}

/** Helpers the gradient rules share. */
export class GradientContext {
  constructor(readonly g: GraphBuilder) {}

  op(
    type: string,
    inputs: (Tensor | null)[],
    shape: readonly Dim[],
    attributes: Record<string, number | number[] | string> = {},
  ): Tensor {
    // Gradients are float, whatever the first input (a shape, a condition) is.
    return this.g.op(type, inputs, { dtype: 'float32', shape: [...shape] }, attributes);
  }

  shapeOf(t: Tensor): Tensor {
    return this.g.op('Shape', [t], { dtype: 'int64', shape: [t.shape.length] });
  }

  zerosLike(t: Tensor): Tensor {
    return this.g.op('ConstantOfShape', [this.shapeOf(t)], { dtype: 'float32', shape: [...t.shape] });
  }

  /**
   * Sums a gradient over the axes its input was broadcast along (leading axes it lacked,
   * and axes where it had a literal 1), so the result has the input's shape.
   */
  unbroadcast(grad: Tensor, input: Tensor): Tensor {
    const out = grad.shape;
    const lead = out.length - input.shape.length;
    const axes: number[] = [];
    for (let axis = 0; axis < out.length; axis++) {
      if (axis < lead) axes.push(axis);
      else if (input.shape[axis - lead] === 1 && out[axis] !== 1) axes.push(axis);
    }
    if (axes.length === 0) return grad;
    const summed = this.op(
      'ReduceSum',
      [grad, this.g.ints(axes)],
      out.map((d, axis) => (axes.includes(axis) ? 1 : d)),
      { keepdims: 1 },
    );
    return this.op('Reshape', [summed, this.shapeOf(input)], input.shape);
  }

  /** An attribute's integer value, or the fallback. */
  int(record: NodeRecord, name: string, fallback: number): number {
    const value = record.attributes[name];
    return typeof value === 'number' ? value : fallback;
  }
}
