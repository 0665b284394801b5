// setupFiles of the `postgres` jest project: the harnesses read this (tests/support/database.ts).
process.env.SIGNALGATE_TEST_STORE = 'postgres';
