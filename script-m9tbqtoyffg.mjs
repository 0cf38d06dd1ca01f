
import { rope, alibi, t5, init, teardown } from "posenc";
const r = rope.fromHFConfig({ hidden_size: 64, num_attention_heads: 4, rope_parameters: { rope_type: "linear", factor: 2 } });
console.log(JSON.stringify({ type: r.type, rotaryDim: r.rotaryDim, slopes: Array.from(alibi.slopes(2)), bucket: t5.relativeBucket(-20, { bidirectional: true }) }));
