// Bundles the Node entry (src/runtime/node.ts) and the demo upstream (scripts/docker/upstream.ts)
// into one self-contained ESM file each, for the Docker image. The Dockerfile's build stage runs
// this file and test/integration/docker.test.ts imports it, so the image and the test bundle
// with the same options and cannot drift.
//
//   node --import tsx scripts/docker/bundle.ts OUTDIR   ->  OUTDIR/edge-lb.mjs, OUTDIR/upstream.mjs

import { fileURLToPath } from "node:url";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** Output name (without .mjs) -> entry. The image's ENTRYPOINT is `node /app/edge-lb.mjs`. */
export const DOCKER_ENTRIES = {
  "edge-lb": root("src/runtime/node.ts"),
  upstream: root("scripts/docker/upstream.ts"),
} as const;

/**
 * ws (the demo upstream's WebSockets) tries require("bufferutil") and require("utf-8-validate")
 * and uses its own JavaScript when they throw: the image has neither native addon, so each
 * becomes a module that throws, and nothing is left to resolve at run time.
 */
const withoutNativeAddons: Plugin = {
  name: "without-native-addons",
  setup(builder) {
    builder.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({
      path: args.path,
      namespace: "absent",
    }));
    builder.onLoad({ filter: /.*/, namespace: "absent" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not in the image`)});`,
      loader: "js",
    }));
  },
};

export const DOCKER_BUNDLE_OPTIONS = {
  plugins: [withoutNativeAddons],
  entryPoints: DOCKER_ENTRIES,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outExtension: { ".js": ".mjs" },
  // Every dependency is inlined: the final stage has no node_modules. A CommonJS dependency that
  // calls require("node:...") needs a real `require` inside an ES module; esbuild's own shim
  // would throw "Dynamic require of ... is not supported".
  banner: {
    js: 'import { createRequire as __edgeLbCreateRequire } from "node:module"; const require = __edgeLbCreateRequire(import.meta.url);',
  },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
} as const satisfies BuildOptions;

export interface DockerBundle {
  readonly outdir: string;
  /** OUTDIR/edge-lb.mjs */
  readonly balancer: string;
  /** OUTDIR/upstream.mjs */
  readonly upstream: string;
  readonly metafile: Metafile;
}

export async function bundleForDocker(outdir: string): Promise<DockerBundle> {
  const result = await build({ ...DOCKER_BUNDLE_OPTIONS, outdir });
  return {
    outdir,
    balancer: `${outdir}/edge-lb.mjs`,
    upstream: `${outdir}/upstream.mjs`,
    metafile: result.metafile,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outdir = process.argv[2];
  if (!outdir) {
    console.error("usage: node --import tsx scripts/docker/bundle.ts OUTDIR");
    process.exit(2);
  }
  const bundle = await bundleForDocker(outdir);
  for (const [file, output] of Object.entries(bundle.metafile.outputs)) {
    console.log(`${file}  ${(output.bytes / 1024).toFixed(0)} KiB`);
  }
}
