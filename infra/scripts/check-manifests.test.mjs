// node --test infra/scripts/check-manifests.test.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { checkCompose, checkInfra, checkManifests } from './check-manifests.mjs';

const kustomization = (...names) => ({
  name: 'kustomization.yaml',
  text: `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${names.join(', ')}]\n`,
});

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: api }
spec:
  replicas: two
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec:
      containers:
        - name: api
          image: api:1
          resources: { requests: { cpu: 100m } }
          env:
            - name: TOKEN
              valueFrom: { secretKeyRef: { name: api-secrets, key: TOKEN } }
`;
const hpa = `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: api }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: apii }
  minReplicas: 1
  maxReplicas: 3
`;

test('the repository infra passes', () => {
  assert.deepEqual(checkInfra(), []);
});

test('reports a schema error and a dangling reference, naming file, document and path', () => {
  const problems = checkManifests([
    { name: 'api.yaml', text: deployment },
    { name: 'api-hpa.yaml', text: hpa },
    kustomization('api.yaml', 'api-hpa.yaml'),
  ]);
  assert.ok(
    problems.includes('api.yaml doc 1 (Deployment/api) at spec.replicas: must be integer'),
    problems.join('\n'),
  );
  assert.ok(
    problems.includes(
      'api-hpa.yaml doc 1 (HorizontalPodAutoscaler/api) at spec.scaleTargetRef: names no defined Deployment (Deployment/apii)',
    ),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.includes('secretKeyRef') && p.includes('no Secret api-secrets')),
    problems.join('\n'),
  );
});

test('refuses unknown kinds and files the kustomization omits', () => {
  const problems = checkManifests([
    { name: 'ingress.yaml', text: 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: web }\n' },
    kustomization(),
  ]);
  assert.ok(
    problems.some((p) =>
      p.startsWith('ingress.yaml doc 1 (Ingress/web) at kind: unknown kind networking.k8s.io/v1/Ingress'),
    ),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.includes('resources: does not list ingress.yaml')),
    problems.join('\n'),
  );
});

test('compose: unknown keys, missing services, undeclared volumes and Dockerfiles', () => {
  const file = path.resolve(import.meta.dirname, '../docker-compose.yml');
  const unknownKey = checkCompose('services:\n  web:\n    imagee: nginx\n', file);
  assert.deepEqual(unknownKey, [
    'infra/docker-compose.yml at services.web: must NOT have additional properties (imagee)',
  ]);
  const semantic = checkCompose(
    'services:\n  api:\n    build: { context: .., dockerfile: infra/docker/missing.Dockerfile }\n    depends_on: [db]\n    volumes: [api-data:/data]\n',
    file,
  );
  assert.deepEqual(semantic, [
    'infra/docker-compose.yml at services.api.build.dockerfile: infra/docker/missing.Dockerfile does not exist',
    'infra/docker-compose.yml at services.api.depends_on.db: no such service',
    'infra/docker-compose.yml at services.api.volumes[0]: named volume api-data is not declared under volumes',
  ]);
});
