"""The collector service (tenken-hub): verifies, stores and shows findings; exports evidence bundles."""
