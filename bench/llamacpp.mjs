// The llama.cpp half of bench/cpu.sh: loads a GGUF with node-llama-cpp's prebuilt
// CPU binaries, evaluates a prompt and generates greedily, timing both phases,
// several times. One JSON line per run on stdout:
//   {"run":1,"prompt_tokens":128,"prompt_s":..,"gen_tokens":128,"gen_s":..,"first":[ids]}
// prompt_s: from handing over the prompt to the first generated token (prompt
// evaluation plus one sampling step). gen_s: from the first generated token to the
// n-th (n-1 decode steps and samplings); gen_tokens is n-1, the decode steps timed.
//
//   NLC_DIR=<folder holding node_modules/node-llama-cpp> \
//     node bench/llamacpp.mjs MODEL.gguf PROMPT_FILE N_GEN THREADS RUNS
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modelPath, promptFile, nGenArg, threadsArg, runsArg] = process.argv.slice(2);
if (!modelPath || !promptFile) {
  console.error("usage: node llamacpp.mjs MODEL PROMPT_FILE [N_GEN] [THREADS] [RUNS]");
  process.exit(2);
}
const nGen = Number(nGenArg ?? 128), threads = Number(threadsArg ?? 2), runs = Number(runsArg ?? 3);
const nlcDir = process.env.NLC_DIR;
const entry = nlcDir ? pathToFileURL(join(nlcDir, "node_modules/node-llama-cpp/dist/index.js")).href
                     : "node-llama-cpp";
const { getLlama, LlamaLogLevel } = await import(entry);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                               maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const text = readFileSync(promptFile, "utf8");
let prompt = model.tokenize(text);
if (model.tokens.shouldPrependBosToken && model.tokens.bos != null)
  prompt = [model.tokens.bos, ...prompt];
const rel = llama.llamaCppRelease ?? {};
console.error(`llama.cpp: ${llama.buildType} binaries, gpu ${llama.gpu}, ${rel.repo ?? "?"} ` +
              `${rel.release ?? "?"}; ${llama.systemInfo}; prompt ${prompt.length} tokens`);

for (let run = 1; run <= runs; ++run) {
  const context = await model.createContext({ contextSize: 1024, batchSize: 512,
                                              threads: { ideal: threads, min: threads } });
  const seq = context.getSequence();
  const t0 = performance.now();
  let t1 = 0, n = 0;
  const first = [];
  for await (const token of seq.evaluate(prompt, { temperature: 0 })) {
    if (n === 0) t1 = performance.now();
    if (first.length < 8) first.push(token);
    if (++n >= nGen) break;
  }
  const t2 = performance.now();
  console.log(JSON.stringify({ run, prompt_tokens: prompt.length, prompt_s: (t1 - t0) / 1e3,
                               gen_tokens: n - 1, gen_s: (t2 - t1) / 1e3, first }));
  await context.dispose();
}
await model.dispose();
await llama.dispose();
