// `npm run check:infra`: validates infra/k8s (each document against its Kubernetes or KEDA
// schema, plus the references between documents) and infra/docker-compose.yml, offline.
// Exits 1 listing every problem as `file doc N (Kind/name) at path: message`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { ROOT } from './lib/run.mjs';

/** The kinds infra/k8s may hold; anything else is refused (add it here with its model). */
const MODELS = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};
const KUSTOMIZATION = 'kustomize.config.k8s.io/v1beta1/Kustomization';

/**
 * Checks Kubernetes manifests given as `{ name, text }` files (names relative to their
 * directory; kustomization.yaml among them). Returns problem lines, empty when all is well.
 */
export function checkManifests(files) {
  const problems = [];
  const docs = [];
  for (const { name, text } of files) {
    // kubectl reads YAML 1.1 (yes/on are booleans there): read it the same way.
    parseAllDocuments(text, { version: '1.1' }).forEach((parsed, index) => {
      const where = `${name} doc ${index + 1}`;
      if (parsed.errors.length) return problems.push(`${where}: YAML: ${parsed.errors[0].message.split('\n')[0]}`);
      const doc = parsed.toJS();
      if (doc !== null) docs.push({ file: name, where, doc });
    });
  }
  const report = (entry, at, message) => {
    const id = `${entry.doc.kind ?? '?'}/${entry.doc.metadata?.name ?? '?'}`;
    problems.push(`${entry.where} (${id})${at ? ` at ${at}` : ''}: ${message}`);
  };

  const resources = [];
  let kustomization = null;
  for (const entry of docs) {
    const { apiVersion, kind, metadata } = entry.doc;
    const type = `${apiVersion}/${kind}`;
    if (type === KUSTOMIZATION) {
      kustomization = entry;
      continue;
    }
    const Model = MODELS[type];
    if (!Model) {
      report(entry, 'kind', `unknown kind ${type}; known: ${Object.keys(MODELS).join(', ')}`);
      continue;
    }
    if (!metadata?.name) report(entry, 'metadata.name', 'is required');
    try {
      new Model(entry.doc).validate();
    } catch (error) {
      for (const issue of error.errors ?? [{ instancePath: '', message: error.message }]) {
        report(entry, jsonPath(issue.instancePath), issue.message);
      }
    }
    resources.push(entry);
  }

  const named = (kind) =>
    new Map(resources.filter((r) => r.doc.kind === kind).map((r) => [r.doc.metadata?.name, r.doc]));
  const namespaces = named('Namespace');
  const deployments = named('Deployment');
  const configMaps = named('ConfigMap');
  const secrets = named('Secret');
  const triggerAuths = named('TriggerAuthentication');
  const keysOf = (doc) => new Set([...Object.keys(doc.data ?? {}), ...Object.keys(doc.stringData ?? {})]);

  const seen = new Set();
  for (const entry of resources) {
    const { kind, metadata = {}, spec = {} } = entry.doc;
    const id = `${kind}/${metadata.namespace ?? ''}/${metadata.name}`;
    if (seen.has(id)) report(entry, 'metadata.name', 'defined twice');
    seen.add(id);
    if (metadata.namespace && !namespaces.has(metadata.namespace))
      report(entry, 'metadata.namespace', `no Namespace ${metadata.namespace} is defined`);

    if (kind === 'Deployment') {
      const labels = spec.template?.metadata?.labels ?? {};
      for (const [key, value] of Object.entries(spec.selector?.matchLabels ?? {})) {
        if (labels[key] !== value)
          report(entry, `spec.selector.matchLabels.${key}`, `template labels do not carry ${key}=${value}`);
      }
    }
    const podSpec = podSpecOf(entry.doc);
    if (podSpec)
      checkPodSpec(podSpec, 'spec.template.spec', (at, message) => report(entry, at, message), {
        configMaps,
        secrets,
        keysOf,
      });
    if (kind === 'Service' && spec.type !== 'ExternalName') {
      const selector = Object.entries(spec.selector ?? {});
      const targets = [...deployments.values()].filter(
        (d) => selector.length && selector.every(([k, v]) => d.spec?.template?.metadata?.labels?.[k] === v),
      );
      if (!targets.length) report(entry, 'spec.selector', "matches no Deployment's pod labels");
      const portNames = new Set(
        targets.flatMap((d) =>
          (d.spec.template.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)),
        ),
      );
      (spec.ports ?? []).forEach((port, i) => {
        if (targets.length && typeof port.targetPort === 'string' && !portNames.has(port.targetPort))
          report(entry, `spec.ports[${i}].targetPort`, `no container port is named ${port.targetPort}`);
      });
    }
    if (kind === 'HorizontalPodAutoscaler') {
      const ref = spec.scaleTargetRef ?? {};
      const target = ref.kind === 'Deployment' ? deployments.get(ref.name) : undefined;
      if (!target) report(entry, 'spec.scaleTargetRef', `names no defined Deployment (${ref.kind}/${ref.name})`);
      const scalesOnCpu = (spec.metrics ?? []).some((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
      (target?.spec?.template?.spec?.containers ?? []).forEach((c, i) => {
        if (scalesOnCpu && !c.resources?.requests?.cpu)
          report(
            entry,
            'spec.metrics',
            `Deployment ${ref.name} container ${i} requests no cpu, so utilisation is undefined`,
          );
      });
    }
    if (kind === 'ScaledObject') {
      const ref = spec.scaleTargetRef ?? {};
      if ((ref.kind ?? 'Deployment') !== 'Deployment' || !deployments.has(ref.name))
        report(entry, 'spec.scaleTargetRef', `names no defined Deployment (${ref.name})`);
      const triggers = spec.triggers ?? [];
      triggers.forEach((trigger, i) => {
        const auth = trigger.authenticationRef;
        if (auth && (auth.kind ?? 'TriggerAuthentication') === 'TriggerAuthentication' && !triggerAuths.has(auth.name))
          report(entry, `spec.triggers[${i}].authenticationRef`, `no TriggerAuthentication ${auth.name} is defined`);
      });
      const formula = spec.advanced?.scalingModifiers?.formula;
      if (formula) {
        const names = new Set(triggers.map((t) => t.name));
        for (const variable of formula.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) {
          if (!names.has(variable))
            report(entry, 'spec.advanced.scalingModifiers.formula', `${variable} is no trigger's name`);
        }
      }
    }
    if (kind === 'TriggerAuthentication') {
      (spec.secretTargetRef ?? []).forEach((ref, i) => {
        const secret = secrets.get(ref.name);
        if (!secret || !keysOf(secret).has(ref.key))
          report(entry, `spec.secretTargetRef[${i}]`, `Secret ${ref.name} has no key ${ref.key}`);
      });
    }
  }

  if (!kustomization) {
    problems.push('kustomization.yaml: missing (kubectl apply -k needs it)');
  } else {
    const listed = kustomization.doc.resources ?? [];
    const manifests = files.map((f) => f.name).filter((n) => n !== kustomization.file);
    for (const name of manifests)
      if (!listed.includes(name)) report(kustomization, 'resources', `does not list ${name}`);
    for (const name of listed)
      if (!manifests.includes(name)) report(kustomization, 'resources', `lists ${name}, which does not exist`);
    const images = new Set(
      resources.flatMap((r) => podSpecOf(r.doc)?.containers ?? []).map((c) => c.image?.replace(/[:@].*$/, '')),
    );
    (kustomization.doc.images ?? []).forEach((image, i) => {
      if (!images.has(image.name)) report(kustomization, `images[${i}].name`, `no container uses ${image.name}`);
    });
  }
  return problems;
}

function podSpecOf(doc) {
  return doc.kind === 'Deployment' || doc.kind === 'Job' ? doc.spec?.template?.spec : undefined;
}

/** Every ConfigMap or Secret a pod spec refers to (env, envFrom, volumes) must be defined, with the key. */
function checkPodSpec(podSpec, at, report, { configMaps, secrets, keysOf }) {
  const needKey = (where, store, kind, ref) => {
    if (ref.optional) return;
    const doc = store.get(ref.name);
    if (!doc) report(where, `no ${kind} ${ref.name} is defined`);
    else if (ref.key !== undefined && !keysOf(doc).has(ref.key))
      report(where, `${kind} ${ref.name} has no key ${ref.key}`);
  };
  const containers = [
    ...(podSpec.initContainers ?? []).map((c, i) => [c, `${at}.initContainers[${i}]`]),
    ...(podSpec.containers ?? []).map((c, i) => [c, `${at}.containers[${i}]`]),
  ];
  for (const [container, cat] of containers) {
    (container.env ?? []).forEach((env, i) => {
      const from = env.valueFrom ?? {};
      if (from.configMapKeyRef)
        needKey(`${cat}.env[${i}].valueFrom.configMapKeyRef`, configMaps, 'ConfigMap', from.configMapKeyRef);
      if (from.secretKeyRef) needKey(`${cat}.env[${i}].valueFrom.secretKeyRef`, secrets, 'Secret', from.secretKeyRef);
    });
    (container.envFrom ?? []).forEach((from, i) => {
      if (from.configMapRef) needKey(`${cat}.envFrom[${i}].configMapRef`, configMaps, 'ConfigMap', from.configMapRef);
      if (from.secretRef) needKey(`${cat}.envFrom[${i}].secretRef`, secrets, 'Secret', from.secretRef);
    });
  }
  (podSpec.volumes ?? []).forEach((volume, i) => {
    if (volume.configMap) needKey(`${at}.volumes[${i}].configMap`, configMaps, 'ConfigMap', volume.configMap);
    if (volume.secret)
      needKey(`${at}.volumes[${i}].secret`, secrets, 'Secret', {
        name: volume.secret.secretName,
        optional: volume.secret.optional,
      });
  });
}

/** `/spec/template/0/x` → `spec.template[0].x` */
function jsonPath(pointer) {
  return (
    pointer
      .split('/')
      .slice(1)
      .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
      .join('')
      .replace(/^\./, '') || '(document)'
  );
}

/** The parts of the Compose file format infra/docker-compose.yml uses; a typo'd key fails. */
const stringList = { type: 'array', items: { type: 'string' } };
const commandSchema = { oneOf: [{ type: 'string' }, stringList] };
const composeSchema = {
  type: 'object',
  required: ['services'],
  properties: {
    name: { type: 'string' },
    services: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          image: { type: 'string' },
          build: {
            oneOf: [
              { type: 'string' },
              {
                type: 'object',
                additionalProperties: false,
                required: ['context'],
                properties: {
                  context: { type: 'string' },
                  dockerfile: { type: 'string' },
                  target: { type: 'string' },
                  args: { type: 'object' },
                },
              },
            ],
          },
          command: commandSchema,
          entrypoint: commandSchema,
          environment: {
            oneOf: [
              stringList,
              { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
            ],
          },
          env_file: { oneOf: [{ type: 'string' }, stringList] },
          ports: { type: 'array', items: { type: ['string', 'integer'] } },
          volumes: stringList,
          profiles: stringList,
          restart: { enum: ['no', 'always', 'on-failure', 'unless-stopped'] },
          stop_grace_period: { type: 'string' },
          user: { type: 'string' },
          working_dir: { type: 'string' },
          depends_on: {
            oneOf: [
              stringList,
              {
                type: 'object',
                additionalProperties: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['condition'],
                  properties: {
                    condition: { enum: ['service_started', 'service_healthy', 'service_completed_successfully'] },
                    required: { type: 'boolean' },
                    restart: { type: 'boolean' },
                  },
                },
              },
            ],
          },
          healthcheck: {
            type: 'object',
            additionalProperties: false,
            properties: {
              test: commandSchema,
              interval: { type: 'string' },
              timeout: { type: 'string' },
              retries: { type: 'integer' },
              start_period: { type: 'string' },
              disable: { type: 'boolean' },
            },
          },
          deploy: {
            type: 'object',
            additionalProperties: false,
            properties: {
              replicas: { type: 'integer' },
              resources: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  limits: { type: 'object' },
                  reservations: {
                    type: 'object',
                    additionalProperties: false,
                    properties: {
                      cpus: { type: ['string', 'number'] },
                      memory: { type: 'string' },
                      devices: {
                        type: 'array',
                        items: {
                          type: 'object',
                          additionalProperties: false,
                          required: ['capabilities'],
                          properties: {
                            driver: { type: 'string' },
                            count: { oneOf: [{ type: 'integer' }, { const: 'all' }] },
                            device_ids: stringList,
                            capabilities: stringList,
                            options: { type: 'object' },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    volumes: { type: 'object', additionalProperties: { type: ['object', 'null'] } },
  },
  // Extension fields (x-*) hold YAML anchors.
  patternProperties: { '^x-': {} },
  additionalProperties: false,
};
const validateCompose = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(composeSchema);

/** Checks a Compose file's text; `file` is its path (build contexts are relative to its folder). */
export function checkCompose(text, file, root = ROOT) {
  const name = path.relative(root, file) || file;
  let compose;
  try {
    compose = parse(text, { merge: true, prettyErrors: false });
  } catch (error) {
    return [`${name}: YAML: ${error.message.split('\n')[0]}`];
  }
  const problems = [];
  if (!validateCompose(compose)) {
    for (const e of validateCompose.errors)
      problems.push(
        `${name} at ${jsonPath(e.instancePath)}: ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`,
      );
    return problems;
  }
  const services = compose.services;
  const volumes = new Set(Object.keys(compose.volumes ?? {}));
  for (const [service, spec] of Object.entries(services)) {
    const at = (p) => `${name} at services.${service}${p ? `.${p}` : ''}`;
    if (!spec.image && !spec.build) problems.push(`${at('')}: needs image or build`);
    if (spec.build) {
      const build = typeof spec.build === 'string' ? { context: spec.build } : spec.build;
      const dockerfile = path.resolve(path.dirname(file), build.context, build.dockerfile ?? 'Dockerfile');
      if (!existsSync(dockerfile))
        problems.push(`${at('build.dockerfile')}: ${path.relative(root, dockerfile)} does not exist`);
    }
    const dependencies = Array.isArray(spec.depends_on)
      ? Object.fromEntries(spec.depends_on.map((d) => [d, {}]))
      : (spec.depends_on ?? {});
    for (const [dependency, condition] of Object.entries(dependencies)) {
      const target = services[dependency];
      if (!target) problems.push(`${at(`depends_on.${dependency}`)}: no such service`);
      // Compose refuses to start a service whose dependency's profile is off, unless required: false.
      else if (target.profiles?.length && !spec.profiles?.length && condition.required !== false)
        problems.push(
          `${at(`depends_on.${dependency}`)}: ${dependency} runs only in profile ${target.profiles.join(', ')}; set required: false`,
        );
    }
    (spec.volumes ?? []).forEach((mount, i) => {
      const source = mount.split(':')[0];
      if (mount.includes(':') && !/^[./~$]/.test(source) && !volumes.has(source))
        problems.push(`${at(`volumes[${i}]`)}: named volume ${source} is not declared under volumes`);
    });
  }
  return problems;
}

/** Everything under infra/: k8s manifests and the Compose file. */
export function checkInfra(root = ROOT) {
  const k8sDir = path.join(root, 'infra/k8s');
  const files = readdirSync(k8sDir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()
    .map((n) => ({ name: n, text: readFileSync(path.join(k8sDir, n), 'utf8') }));
  const composeFile = path.join(root, 'infra/docker-compose.yml');
  return [
    ...checkManifests(files).map((p) => `infra/k8s/${p}`),
    ...checkCompose(readFileSync(composeFile, 'utf8'), composeFile, root),
  ];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ? path.resolve(process.argv[2]) : ROOT;
  const problems = checkInfra(root);
  if (problems.length) {
    console.error(`infra check failed (${problems.length}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(1);
  }
  console.log('infra/k8s and infra/docker-compose.yml: ok');
}
