// Test support lives here.
