/**
 * Unit tests of how a Go-provisioned tool is found: explicit env var, then PATH, then the
 * project-local build, then a clear error (building is not exercised here: CI builds the real ones).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { ConfigError } from '../common/errors';
import { createLogger } from '../common/logger';
import { findGoTool, toolsBinDir, type GoTool } from './go-tool';

const TOOL: GoTool = { binary: 'fake-tool', module: 'example.com/fake/cmd/fake-tool@v1.0.0', envVar: 'FAKE_TOOL', notFoundCode: 'TEMPORAL_CLI_NOT_FOUND', installHint: 'Install fake-tool' };
const logger = createLogger('test', 'silent');

function executableAt(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'fake-tool');
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, 0o755);
  return file;
}

it('prefers the env var, then PATH, then the project-local build, else names every way to get it', async () => {
  const project = mkdtempSync(path.join(os.tmpdir(), 'sluice-go-tool-'));
  const onPath = executableAt(path.join(project, 'path-bin'));
  const explicit = executableAt(path.join(project, 'explicit'));
  const cached = executableAt(toolsBinDir(project));
  const find = (env: NodeJS.ProcessEnv) => findGoTool(TOOL, { projectDir: project, logger, env, build: false });
  assert.equal(await find({ FAKE_TOOL: explicit, PATH: path.dirname(onPath) }), explicit);
  assert.equal(await find({ PATH: path.dirname(onPath) }), onPath);
  assert.equal(await find({ PATH: '/nonexistent' }), cached);
  await assert.rejects(find({ FAKE_TOOL: path.join(project, 'missing') }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'TEMPORAL_CLI_NOT_FOUND');
    assert.equal(error.message, `FAKE_TOOL=${path.join(project, 'missing')} is not an executable file`);
    return true;
  });
  const empty = mkdtempSync(path.join(os.tmpdir(), 'sluice-go-tool-'));
  await assert.rejects(findGoTool(TOOL, { projectDir: empty, logger, env: { PATH: '/nonexistent' }, build: false }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, 'fake-tool was not found. Install fake-tool, set FAKE_TOOL to its path, or install Go so Sluice can build it: go install example.com/fake/cmd/fake-tool@v1.0.0');
    return true;
  });
});
