#!/usr/bin/env node
// `signalgate` bin: runs one admin command against the data dir, or `start` for the services.
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
