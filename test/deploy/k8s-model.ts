/**
 * Loading k8s/ and checking objects against the Kubernetes API: the kubernetes-models validators
 * (types, required fields, formats) plus an unknown-field check driven by the same package's type
 * definitions through the TypeScript checker (the validators accept unknown fields, so a typo such
 * as `readinesProbe` would otherwise pass).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { REPO, requireBuilt } from './helpers';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export const K8S_DIR = join(REPO, 'k8s');

/** The model class and type-definition file (in `pkg`, default kubernetes-models) of every kind k8s/ uses. */
const MODELS: Record<string, { module: string; dts: string; iface: string; pkg?: string }> = {
  'v1/Namespace': { module: 'kubernetes-models/v1', dts: 'v1/Namespace', iface: 'INamespace' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1', dts: 'v1/ConfigMap', iface: 'IConfigMap' },
  'v1/Secret': { module: 'kubernetes-models/v1', dts: 'v1/Secret', iface: 'ISecret' },
  'v1/Service': { module: 'kubernetes-models/v1', dts: 'v1/Service', iface: 'IService' },
  'apps/v1/StatefulSet': { module: 'kubernetes-models/apps/v1', dts: 'apps/v1/StatefulSet', iface: 'IStatefulSet' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1', dts: 'apps/v1/Deployment', iface: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1', dts: 'policy/v1/PodDisruptionBudget', iface: 'IPodDisruptionBudget' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1', dts: 'networking.k8s.io/v1/NetworkPolicy', iface: 'INetworkPolicy' },
  // cert-manager's CRDs (peer mutual TLS, k8s/peer-pki.yaml)
  'cert-manager.io/v1/Issuer': { pkg: '@kubernetes-models/cert-manager', module: '@kubernetes-models/cert-manager/cert-manager.io/v1', dts: 'cert-manager.io/v1/Issuer', iface: 'IIssuer' },
  'cert-manager.io/v1/Certificate': { pkg: '@kubernetes-models/cert-manager', module: '@kubernetes-models/cert-manager/cert-manager.io/v1', dts: 'cert-manager.io/v1/Certificate', iface: 'ICertificate' },
};

export const modelKey = (o: { apiVersion: string; kind: string }) => `${o.apiVersion}/${o.kind}`;
export const KNOWN_KINDS = Object.keys(MODELS);

/** Throws the validator's message when the object does not match its Kubernetes schema. */
export function validateObject(o: K8sObject): void {
  const m = MODELS[modelKey(o)];
  if (!m) throw new Error(`${o.kind} ${o.metadata?.name}: no model for ${modelKey(o)}; add it to test/deploy/k8s-model.ts`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(m.module) as Record<string, new (data: unknown) => { validate(): void }>;
  new mod[o.kind](o).validate();
}

/**
 * k8s/ as an operator deploys it: a copy in a temp dir with its generated part, k8s/control-plane
 * (not in git), made the way kustomization.yaml says, by `swarmshare control-plane` for the node
 * StatefulSet's replica count.
 */
export function k8sWithControlPlane(): { dir: string; cleanup(): void } {
  const tmp = mkdtempSync(join(tmpdir(), 'ss-k8s-'));
  const dir = join(tmp, 'k8s');
  cpSync(K8S_DIR, dir, { recursive: true, filter: (src) => !src.startsWith(join(K8S_DIR, 'control-plane')) });
  const node = parseAllDocuments(readFileSync(join(K8S_DIR, 'node.yaml'), 'utf8')).map((d) => d.toJS() as K8sObject).find((o) => o?.kind === 'StatefulSet')!;
  const replicas = (node.spec as { replicas: number }).replicas;
  execFileSync(process.execPath, [requireBuilt('cli/dist/main.js'), 'control-plane', '--target', 'k8s', '--out', join(dir, 'control-plane'), '--statefulset', node.metadata.name, '--replicas', String(replicas)], { stdio: 'pipe' });
  return { dir, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
}

interface Kustomization {
  namespace?: string;
  resources: string[];
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  secretGenerator?: Array<{ name: string; envs?: string[]; files?: string[] }>;
}

/** The Secrets of secretGenerator (fixed names: generatorOptions.disableNameSuffixHash), as kustomize makes them. */
function generatedSecrets(dir: string, kust: Kustomization): K8sObject[] {
  return (kust.secretGenerator ?? []).map((g) => {
    const data: Record<string, string> = {};
    for (const env of g.envs ?? []) {
      for (const line of readFileSync(join(dir, env), 'utf8').split('\n')) {
        const t = line.trim();
        if (!t || t.startsWith('#')) continue;
        const eq = t.indexOf('=');
        data[t.slice(0, eq)] = Buffer.from(t.slice(eq + 1)).toString('base64');
      }
    }
    for (const f of g.files ?? []) data[f.split('/').pop()!] = readFileSync(join(dir, f)).toString('base64');
    return { apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: 'Opaque', data };
  });
}

/** The kustomization's resources and generated Secrets, with its namespace and image transforms applied. */
export function loadListedResources(dir = K8S_DIR): K8sObject[] {
  const kust = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const objects: K8sObject[] = generatedSecrets(dir, kust);
  if (kust.namespace) for (const o of objects) o.metadata.namespace = kust.namespace;
  for (const file of kust.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`k8s/${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const o = doc.toJS() as K8sObject | null;
      if (!o) continue;
      if (kust.namespace && o.kind !== 'Namespace') o.metadata.namespace = kust.namespace;
      objects.push(o);
    }
  }
  for (const o of objects) {
    for (const c of [...(podSpecOf(o)?.containers ?? []), ...(podSpecOf(o)?.initContainers ?? [])]) {
      const img = kust.images?.find((i) => i.name === c.image);
      if (img) c.image = `${img.newName ?? img.name}${img.newTag ? `:${img.newTag}` : ''}`;
    }
  }
  return objects;
}

/** `kubectl kustomize k8s` when kubectl is installed, else undefined. */
export function renderWithKubectl(dir = K8S_DIR): K8sObject[] | undefined {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  if (r.status !== 0) throw new Error(`kubectl kustomize k8s failed: ${r.stderr || r.error?.message}`);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  // kustomize wraps a generated file's base64 over lines; the API server's decoder (Go's) skips the
  // line breaks, the schema's "byte" format does not: compare them unwrapped.
  for (const o of objects) {
    const data = o.kind === 'Secret' ? (o.data as Record<string, string> | undefined) : undefined;
    for (const k of Object.keys(data ?? {})) data![k] = data![k].replace(/\s+/g, '');
  }
  return objects;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }>;
  envFrom?: unknown[];
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
export interface Probe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
  tcpSocket?: { port: number | string };
  grpc?: { port: number; service?: string };
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: Array<{ name: string; [k: string]: unknown }>;
}

export function podSpecOf(o: K8sObject): PodSpec | undefined {
  const spec = o.spec as { template?: { spec?: PodSpec } } | undefined;
  return spec?.template?.spec;
}

/** Unknown fields anywhere in `objects`, as "Kind/name: path.to.field". */
export function unknownFields(objects: K8sObject[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ss-k8s-types-'));
  try {
    const root = (pkg = 'kubernetes-models') => dirname(require.resolve(`${pkg}/package.json`));
    const entry = join(dir, 'entry.ts');
    const keys = Object.keys(MODELS);
    writeFileSync(
      entry,
      keys.map((k, i) => `import type { ${MODELS[k].iface} as T${i} } from ${JSON.stringify(join(root(MODELS[k].pkg), MODELS[k].dts))};`).join('\n') +
        `\nexport interface All {\n${keys.map((k, i) => `  ${JSON.stringify(k)}: T${i};`).join('\n')}\n}\n`,
    );
    const program = ts.createProgram([entry], { noEmit: true, strict: true, skipLibCheck: true, types: [], moduleResolution: ts.ModuleResolutionKind.Node10, ignoreDeprecations: '6.0' });
    const checker = program.getTypeChecker();
    const sf = program.getSourceFile(entry)!;
    const all = sf.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'All')!;
    const allType = checker.getTypeAtLocation(all);
    const problems: string[] = [];
    const walk = (value: unknown, type: ts.Type, path: string): void => {
      const t = checker.getNonNullableType(type);
      if (Array.isArray(value)) {
        const el = checker.isArrayType(t) ? checker.getTypeArguments(t as ts.TypeReference)[0] : undefined;
        if (el) value.forEach((v, i) => walk(v, el, `${path}[${i}]`));
        return;
      }
      if (value === null || typeof value !== 'object') return;
      if (checker.getIndexInfoOfType(t, ts.IndexKind.String)) return; // a map: any keys
      const objType = t.isUnion() ? t.types.find((u) => u.getProperties().length > 0) : t;
      if (!objType) return;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const prop = objType.getProperty(k);
        if (!prop) {
          problems.push(`${path}.${k}`);
          continue;
        }
        walk(v, checker.getTypeOfSymbol(prop), `${path}.${k}`);
      }
    };
    for (const o of objects) {
      const prop = allType.getProperty(modelKey(o));
      if (!prop) {
        problems.push(`${o.kind}/${o.metadata.name}: no type for ${modelKey(o)}`);
        continue;
      }
      walk(o, checker.getTypeOfSymbol(prop), `${o.kind}/${o.metadata.name}`);
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
