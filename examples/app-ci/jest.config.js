// Plain ES modules, no transform: what an app's own jest setup would be.
export default { testEnvironment: 'node', transform: {}, testMatch: ['<rootDir>/test/**/*.test.js'] };
