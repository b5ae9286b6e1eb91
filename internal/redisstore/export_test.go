package redisstore

// URLForExamples exposes the test server to the examples of package
// redisstore_test.
func URLForExamples() string { return testRedisURL }
