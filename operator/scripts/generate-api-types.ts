// Generates operator/src/api/types.generated.ts from the ModelDeployment CRD, so the operator's
// types cannot drift from the API schema (test/unit/crd-types.test.ts checks the committed file).
//
//   npm exec -- node operator/scripts/generate-api-types.ts           write the file
//   npm exec -- node operator/scripts/generate-api-types.ts --check   exit 1 if it is out of date
//
// Mapping: every object with properties becomes an exported interface (named in TYPE_NAMES: a new
// nested object in the CRD needs a name here, the script refuses to guess one); required properties
// are non-optional, others optional; enums become string-literal unions; x-kubernetes-int-or-string
// becomes `number | string`; maps (additionalProperties) become Record<string, T>; descriptions and
// defaults become JSDoc. The root's metadata is V1ObjectMeta from @kubernetes/client-node.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import * as prettier from 'prettier';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const crdPath = resolve(repoRoot, 'crds/modelship.dev_modeldeployments.yaml');
export const outputPath = resolve(repoRoot, 'operator/src/api/types.generated.ts');
const scriptPath = 'operator/scripts/generate-api-types.ts';

/** The part of an OpenAPI v3 schema node that a CRD's structural schema uses. */
export interface SchemaNode {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  enum?: unknown[];
  default?: unknown;
  anyOf?: SchemaNode[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [key: string]: unknown;
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: SchemaNode };
}

export interface Crd {
  apiVersion: string;
  kind: string;
  spec: {
    group: string;
    names: { kind: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
    scope: string;
    versions: CrdVersion[];
  };
}

/**
 * Interface name of each object node, by path from the root ('[]' marks array items).
 * The operator imports these names: renaming one is an API change for the code.
 * Several paths may share a name only if their schemas are identical but for the description
 * (the peers and selectors of spec.networkPolicy): the interface is emitted once.
 */
export const TYPE_NAMES: Readonly<Record<string, string>> = {
  '': 'ModelDeployment',
  spec: 'ModelDeploymentSpec',
  'spec.model': 'ModelSpec',
  'spec.model.credentialsSecretRef': 'SecretRef',
  'spec.model.s3': 'S3StorageSpec',
  'status.history[].credentialsSecretRef': 'RecordedSecretRef',
  'status.history[].s3': 'RecordedS3Storage',
  'spec.autoscaling': 'AutoscalingSpec',
  'spec.autoscaling.behavior': 'AutoscalingBehavior',
  'spec.autoscaling.behavior.scaleUp': 'ScaleUpRules',
  'spec.autoscaling.behavior.scaleDown': 'ScaleDownRules',
  'spec.autoscaling.behavior.scaleUp.policies[]': 'ScaleUpPolicy',
  'spec.autoscaling.behavior.scaleDown.policies[]': 'ScaleDownPolicy',
  'spec.resources': 'ResourceRequirements',
  'spec.runtime': 'RuntimeSpec',
  'spec.runtime.batching': 'BatchingSpec',
  'spec.runtime.auth': 'RuntimeAuthSpec',
  'spec.runtime.apiKeySecretRef': 'SecretKeyRef',
  'spec.service.tls': 'ServiceTlsSpec',
  'spec.service.tls.clientCA': 'ClientCaSpec',
  'spec.rollout': 'RolloutSpec',
  'spec.rollout.canary': 'CanarySpec',
  'spec.rollout.canary.steps[]': 'CanaryStep',
  'spec.rollout.canary.analysis': 'CanaryAnalysisSpec',
  'spec.rollout.httpRoute': 'HTTPRouteSpec',
  'spec.rollout.httpRoute.parentRefs[]': 'ParentReference',
  'spec.service': 'ServiceSpec',
  'spec.pod': 'PodSettings',
  'spec.pod.tolerations[]': 'Toleration',
  'spec.pod.affinity': 'Affinity',
  'spec.pod.topologySpreadConstraints[]': 'TopologySpreadConstraint',
  'spec.pod.topologySpreadConstraints[].labelSelector': 'LabelSelector',
  'spec.pod.topologySpreadConstraints[].labelSelector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.pod.imagePullSecrets[]': 'LocalObjectReference',
  'spec.pod.env[]': 'EnvVar',
  'spec.pod.env[].valueFrom': 'EnvVarSource',
  'spec.pod.env[].valueFrom.secretKeyRef': 'SecretKeySelector',
  'spec.pod.env[].valueFrom.configMapKeyRef': 'ConfigMapKeySelector',
  'spec.experiment': 'ExperimentSpec',
  'spec.experiment.model': 'ExperimentModelSpec',
  'spec.experiment.model.credentialsSecretRef': 'SecretRef',
  'spec.experiment.model.s3': 'S3StorageSpec',
  'spec.networkPolicy': 'NetworkPolicySpec',
  'spec.networkPolicy.ingressFrom[]': 'NetworkPolicyPeer',
  'spec.networkPolicy.ingressFrom[].namespaceSelector': 'LabelSelector',
  'spec.networkPolicy.ingressFrom[].podSelector': 'LabelSelector',
  'spec.networkPolicy.ingressFrom[].podSelector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.networkPolicy.ingressFrom[].namespaceSelector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.networkPolicy.ingressFrom[].ipBlock': 'IPBlock',
  'spec.networkPolicy.metricsFrom[]': 'NetworkPolicyPeer',
  'spec.networkPolicy.metricsFrom[].namespaceSelector': 'LabelSelector',
  'spec.networkPolicy.metricsFrom[].podSelector': 'LabelSelector',
  'spec.networkPolicy.metricsFrom[].podSelector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.networkPolicy.metricsFrom[].namespaceSelector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.networkPolicy.metricsFrom[].ipBlock': 'IPBlock',
  status: 'ModelDeploymentStatus',
  'status.conditions[]': 'Condition',
  'status.history[]': 'HistoryEntry',
  'status.canary': 'CanaryStatus',
  'status.canary.lastAnalysis': 'CanaryAnalysisStatus',
  'status.canary.lastAnalysis.canary': 'TrackFigures',
  'status.canary.lastAnalysis.stable': 'TrackFigures',
  'status.experiment': 'ExperimentStatus',
  'status.experiment.variants[]': 'ExperimentVariantStatus',
};

/** Root properties every object read from or sent to the API server has, whatever the schema says. */
const ALWAYS_PRESENT_AT_ROOT = new Set(['apiVersion', 'kind', 'metadata']);

export function parseCrd(yamlText: string): Crd {
  const doc = load(yamlText) as Crd | undefined;
  if (!doc || doc.kind !== 'CustomResourceDefinition' || !doc.spec?.versions) {
    throw new Error('expected a single apiextensions.k8s.io/v1 CustomResourceDefinition document');
  }
  return doc;
}

/** The one served storage version, with its schema. */
export function storageVersion(crd: Crd): CrdVersion & { schema: { openAPIV3Schema: SchemaNode } } {
  const storage = crd.spec.versions.filter((v) => v.storage);
  const [version] = storage;
  if (storage.length !== 1 || !version) throw new Error(`expected exactly one storage version, found ${storage.length}`);
  if (!version.served) throw new Error(`storage version ${version.name} is not served`);
  const schema = version.schema?.openAPIV3Schema;
  if (!schema) throw new Error(`version ${version.name} has no openAPIV3Schema`);
  return { ...version, schema: { openAPIV3Schema: schema } };
}

/** Word-wraps text into JSDoc lines of at most `width` characters (long words stay whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    if (lines.length > 0) lines.push('');
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    if (line) lines.push(line);
  }
  return lines;
}

function jsDoc(node: SchemaNode, indent: string): string {
  const lines = node.description ? wrap(node.description.trim(), 96 - indent.length) : [];
  if (node.default !== undefined) {
    if (lines.length > 0) lines.push('');
    lines.push(`@defaultValue \`${JSON.stringify(node.default)}\``);
  }
  if (lines.length === 0) return '';
  const body = lines.map((l) => `${indent} *${l ? ` ${l.replaceAll('*/', '*\\/')}` : ''}`).join('\n');
  return `${indent}/**\n${body}\n${indent} */\n`;
}

function quoteKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : `'${name.replaceAll("'", "\\'")}'`;
}

/** The root metadata cannot carry a description in a CRD; document it from its name restriction. */
function metadataDoc(node: SchemaNode): SchemaNode {
  const name = node.properties?.name?.description;
  return { description: `Standard object metadata.${name ? ` metadata.name: ${name}` : ''}` };
}

interface Emitted {
  name: string;
  text: string;
}

class Generator {
  readonly interfaces: Emitted[] = [];
  readonly usedNames = new Set<string>();
  /** The schema each emitted name was generated from, to tell a shared type from a clash. */
  private readonly schemaOf = new Map<string, string>();

  /** TypeScript type of a schema node; object nodes with properties are emitted as interfaces. */
  typeOf(node: SchemaNode, path: string): string {
    if (path === 'metadata') return 'V1ObjectMeta';
    if (node['x-kubernetes-int-or-string']) return 'number | string';
    if (node['x-kubernetes-preserve-unknown-fields']) {
      // A pass-through of a large core type (spec.pod.affinity's parts): the operator hands it on as is.
      if (node.type === 'object' && !node.properties && !node.additionalProperties) return 'Record<string, unknown>';
      throw new Error(`${path}: x-kubernetes-preserve-unknown-fields is supported only on an object without properties`);
    }
    if (node.enum) {
      if (node.enum.length === 0) throw new Error(`${path}: empty enum`);
      return node.enum.map((v) => `'${String(v).replaceAll("'", "\\'")}'`).join(' | ');
    }
    switch (node.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        if (!node.items) throw new Error(`${path}: array without items`);
        const item = this.typeOf(node.items, `${path}[]`);
        return item.includes(' ') ? `(${item})[]` : `${item}[]`;
      }
      case 'object': {
        if (node.properties) return this.emitInterface(node, path);
        if (node.additionalProperties && typeof node.additionalProperties === 'object') {
          return `Record<string, ${this.typeOf(node.additionalProperties, `${path}{}`)}>`;
        }
        throw new Error(`${path}: object without properties or additionalProperties`);
      }
      default:
        throw new Error(`${path}: unsupported schema type ${JSON.stringify(node.type)}`);
    }
  }

  emitInterface(node: SchemaNode, path: string): string {
    const name = TYPE_NAMES[path];
    if (!name) {
      throw new Error(`${path || '<root>'}: object with properties has no interface name; add one to TYPE_NAMES in ${scriptPath}`);
    }
    // The node's own description may differ (it documents the member, not the type).
    const { description: _description, ...shape } = node;
    if (this.usedNames.has(name)) {
      if (this.schemaOf.get(name) === JSON.stringify(shape)) return name;
      throw new Error(`${path}: interface name ${name} used twice for different schemas`);
    }
    this.usedNames.add(name);
    this.schemaOf.set(name, JSON.stringify(shape));
    // Reserve the slot first so interfaces come out in schema order, parents before children.
    const slot: Emitted = { name, text: '' };
    this.interfaces.push(slot);
    const required = new Set(node.required ?? []);
    let members = '';
    for (const [prop, child] of Object.entries(node.properties ?? {})) {
      const childPath = path ? `${path}.${prop}` : prop;
      const optional = !(required.has(prop) || (path === '' && ALWAYS_PRESENT_AT_ROOT.has(prop)));
      const type = this.typeOf(child, childPath);
      const doc = jsDoc(prop === 'metadata' && path === '' ? metadataDoc(child) : child, '  ');
      members += `${doc}  ${quoteKey(prop)}${optional ? '?' : ''}: ${type};\n`;
    }
    slot.text = `${jsDoc(node, '')}export interface ${name} {\n${members}}\n`;
    return name;
  }
}

/** The TypeScript source of types.generated.ts for a CRD, before formatting. */
export function renderApiTypes(crdYaml: string): string {
  const crd = parseCrd(crdYaml);
  const version = storageVersion(crd);
  const gen = new Generator();
  gen.emitInterface(version.schema.openAPIV3Schema, '');
  const missing = Object.entries(TYPE_NAMES).filter(([, name]) => !gen.usedNames.has(name));
  if (missing.length > 0) {
    throw new Error(`TYPE_NAMES has entries for paths that are not in the CRD: ${missing.map(([p]) => p).join(', ')}`);
  }
  const kind = crd.spec.names.kind;
  const prefix = kind.toUpperCase(); // MODELDEPLOYMENT_GROUP, ...
  const constants = [
    ['GROUP', crd.spec.group, 'API group of the CRD.'],
    ['VERSION', version.name, 'The served storage version.'],
    ['API_VERSION', `${crd.spec.group}/${version.name}`, 'apiVersion of objects of this version.'],
    ['KIND', kind, 'Kind of the objects.'],
    ['PLURAL', crd.spec.names.plural, 'Resource name in URLs, e.g. /apis/<group>/<version>/namespaces/<ns>/<plural>.'],
  ] as const;
  return [
    `// Code generated by ${scriptPath} from ${relative(repoRoot, crdPath)}. DO NOT EDIT.`,
    `// Change the CRD, then regenerate: npm exec -- node ${scriptPath}`,
    '',
    "import type { V1ObjectMeta } from '@kubernetes/client-node';",
    '',
    ...constants.map(([name, value, doc]) => `/** ${doc} */\nexport const ${prefix}_${name} = '${value}';\n`),
    ...gen.interfaces.map((i) => i.text),
  ].join('\n');
}

/** renderApiTypes, formatted with the repository's Prettier configuration. */
export async function generateApiTypes(crdYaml: string): Promise<string> {
  const source = renderApiTypes(crdYaml);
  const config = (await prettier.resolveConfig(outputPath)) ?? {};
  return prettier.format(source, { ...config, filepath: outputPath });
}

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const generated = await generateApiTypes(readFileSync(crdPath, 'utf8'));
  let current: string | undefined;
  try {
    current = readFileSync(outputPath, 'utf8');
  } catch {
    current = undefined;
  }
  const rel = relative(process.cwd(), outputPath);
  if (current === generated) {
    process.stdout.write(`${rel} is up to date\n`);
    return 0;
  }
  if (check) {
    process.stderr.write(`${rel} is out of date with the CRD; run: npm exec -- node ${scriptPath}\n`);
    return 1;
  }
  writeFileSync(outputPath, generated);
  process.stdout.write(`wrote ${rel}\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`generate-api-types: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
