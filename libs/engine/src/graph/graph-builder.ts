import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;

/** ORT 1.30 accepts opsets 17–26; Gelu needs ≥ 20. */
export const OPSET = 20;
const IR_VERSION = 10;

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

/** ONNX Runtime's contrib operators (MatMulNBits), version 1. */
export const MICROSOFT_DOMAIN = 'com.microsoft';

const ONNX_DTYPES: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  uint8: onnx.TensorProto.DataType.UINT8,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A dimension: a fixed size or a named symbol (batch, sequence, …). */
export type Dim = number | string;

/** A value in the graph under construction: its name, element type and (static or symbolic) shape. */
export interface Tensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

export type AttributeValue = number | number[] | string | Onnx.ITensorProto | Subgraph;

/** A graph-valued attribute (an If's branch), made by `GraphBuilder.ifElse`. */
export interface Subgraph {
  readonly subgraph: Onnx.IGraphProto;
}

/** One node as the builder saw it: what autodiff walks backwards. */
export interface NodeRecord {
  readonly type: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly output: Tensor;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/**
 * Builds one ONNX graph: inputs, named initializers (weights), nodes and outputs.
 * Ops return typed handles; shapes are carried for readability and checks, not inferred
 * for every op (the caller states the output shape where it matters).
 */
export class GraphBuilder {
  private readonly inputs: Onnx.IValueInfoProto[] = [];
  private readonly outputs: Onnx.IValueInfoProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly records: NodeRecord[] = [];
  /** Values of the small int64 constants made by `ints`, so gradient rules can read axes and bounds. */
  private readonly intConstants = new Map<string, number[]>();
  private readonly names = new Set<string>();
  private counter = 0;
  private usesMicrosoftOps = false;
  /** The main graph: a branch's names are unique across the whole model, so it takes them from there. */
  private readonly root: GraphBuilder;

  constructor(
    readonly graphName: string,
    parent?: GraphBuilder,
  ) {
    this.root = parent?.root ?? this;
  }

  /** A fresh value name with a readable stem. */
  fresh(stem: string): string {
    const root = this.root;
    let name: string;
    do name = `${stem}_${root.counter++}`;
    while (root.names.has(name));
    root.names.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Dim[]): Tensor {
    this.claim(name);
    this.inputs.push(valueInfo(name, dtype, shape));
    return { name, dtype, shape };
  }

  /** A named weight stored in the model. */
  initializer(name: string, data: Float32Array | BigInt64Array | Int32Array, shape: number[]): Tensor {
    this.claim(name);
    return this.addInitializer(name, data, shape);
  }

  /**
   * A named weight kept outside the model, in `file` (relative to the model file's folder) at
   * a byte range: ONNX external data, which ONNX Runtime maps rather than copies.
   */
  externalInitializer(
    name: string,
    dtype: DType,
    shape: number[],
    at: { file: string; offset: number; length: number },
  ): Tensor {
    this.claim(name);
    this.initializers.push({
      name,
      dataType: ONNX_DTYPES[dtype],
      dims: shape,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: at.file },
        { key: 'offset', value: String(at.offset) },
        { key: 'length', value: String(at.length) },
      ],
    });
    return { name, dtype, shape };
  }

  /** A small int64 constant (shapes, axes). */
  ints(values: number[], stem = 'const'): Tensor {
    const tensor = this.addInitializer(this.fresh(stem), BigInt64Array.from(values.map(BigInt)), [values.length]);
    this.intConstants.set(tensor.name, [...values]);
    return tensor;
  }

  /** The values of a constant made by `ints`, or null when the tensor is computed. */
  constantInts(tensor: Tensor | null | undefined): number[] | null {
    return (tensor && this.intConstants.get(tensor.name)) ?? null;
  }

  /** Every node so far, in the order built (a topological order). */
  nodeRecords(): readonly NodeRecord[] {
    return this.records;
  }

  /** A float32 scalar constant. */
  scalar(value: number, stem = 'scalar'): Tensor {
    return this.addInitializer(this.fresh(stem), Float32Array.of(value), []);
  }

  /** One node with one output. */
  op(
    type: string,
    inputs: (Tensor | null)[],
    output: { dtype?: DType; shape: Dim[]; name?: string },
    attributes: Record<string, AttributeValue> = {},
    domain = '',
  ): Tensor {
    const name = output.name ?? this.fresh(type.toLowerCase());
    if (output.name) this.claim(name);
    if (domain === MICROSOFT_DOMAIN) this.root.usesMicrosoftOps = true;
    this.nodes.push({
      opType: type,
      ...(domain ? { domain } : {}),
      name: this.root === this ? `${type}_${this.nodes.length}` : `${this.graphName}/${type}_${this.nodes.length}`,
      input: inputs.map((t) => t?.name ?? ''),
      output: [name],
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    const result: Tensor = { name, dtype: output.dtype ?? inputs[0]?.dtype ?? 'float32', shape: output.shape };
    this.records.push({ type, inputs, output: result, attributes });
    return result;
  }

  /**
   * ONNX If: `whenTrue` or `whenFalse` runs, as `condition` (a bool scalar) says, each building
   * its branch in a subgraph that reads this graph's values by name and returns one tensor (both
   * of one type). What the branch not taken would compute is never computed.
   */
  ifElse(
    condition: Tensor,
    shape: Dim[],
    whenTrue: (branch: GraphBuilder) => Tensor,
    whenFalse: (branch: GraphBuilder) => Tensor,
  ): Tensor {
    let dtype: DType | undefined;
    const branch = (name: string, build: (branch: GraphBuilder) => Tensor): Subgraph => {
      const builder = new GraphBuilder(this.fresh(name), this);
      const result = build(builder);
      if (dtype && result.dtype !== dtype) throw new Error(`If: the branches return ${dtype} and ${result.dtype}`);
      dtype = result.dtype;
      // A branch's output is a value of its own (an outer value passes through an Identity).
      builder.output(
        builder.produces(result) ? result : builder.op('Identity', [result], { shape: [...result.shape] }),
      );
      return { subgraph: builder.toModel().graph! };
    };
    const attributes = { then_branch: branch('then', whenTrue), else_branch: branch('else', whenFalse) };
    return this.op('If', [condition], { dtype: dtype!, shape }, attributes);
  }

  /** Whether a node of this graph (not an outer one) computes the value. */
  private produces(tensor: Tensor): boolean {
    return this.records.some((r) => r.output.name === tensor.name);
  }

  output(tensor: Tensor, name = tensor.name): Tensor {
    const result = name === tensor.name ? tensor : this.op('Identity', [tensor], { shape: [...tensor.shape], name });
    this.outputs.push(valueInfo(result.name, result.dtype, [...result.shape]));
    return result;
  }

  toModel(): Onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'tessera',
      opsetImport: [
        { domain: '', version: OPSET },
        ...(this.usesMicrosoftOps ? [{ domain: MICROSOFT_DOMAIN, version: 1 }] : []),
      ],
      graph: {
        name: this.graphName,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
        node: this.nodes,
      },
    });
  }

  serialize(): Uint8Array {
    return onnx.ModelProto.encode(this.toModel()).finish();
  }

  private addInitializer(name: string, data: Float32Array | BigInt64Array | Int32Array, shape: number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length)
      throw new Error(`initializer ${name}: shape [${shape}] holds ${size} values, data has ${data.length}`);
    const dtype: DType = data instanceof Float32Array ? 'float32' : data instanceof BigInt64Array ? 'int64' : 'int32';
    this.initializers.push({
      name,
      dataType: ONNX_DTYPES[dtype],
      dims: shape,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return { name, dtype, shape };
  }

  private claim(name: string): void {
    const names = this.root.names;
    if (names.has(name)) throw new Error(`graph ${this.graphName}: the name ${name} is taken`);
    names.add(name);
  }
}

function valueInfo(name: string, dtype: DType, shape: Dim[]): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPES[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): Onnx.IAttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: types.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: types.INTS, ints: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: types.INT, i: value } : { name, type: types.FLOAT, f: value };
  }
  if ('subgraph' in value) return { name, type: types.GRAPH, g: value.subgraph };
  return { name, type: types.TENSOR, t: value };
}
