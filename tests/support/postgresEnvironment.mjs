// The test environment of the `postgres` jest project: Node's, with SIGNALGATE_TEST_STORE=postgres
// for the harnesses (tests/support/database.ts) and a teardown that stops the suite file's private
// PostgreSQL after everything of the file ran, its own afterAll hooks included (a hook registered
// by the harness would run before the suite's and pull the database from under its closing stores).
import { TestEnvironment } from 'jest-environment-node';

export default class PostgresEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.process.env.SIGNALGATE_TEST_STORE = 'postgres';
    this.global.__signalgateTeardown = [];
  }

  async teardown() {
    for (const stop of this.global.__signalgateTeardown.reverse()) await stop();
    await super.teardown();
  }
}
