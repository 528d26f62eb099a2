"""Evidence bundles for audits: one zip with the signed reports, their evidence, a signed manifest and the
views an auditor reads (printable HTML/PDF, CSV, the MHLW checklist, OSCAL, JUnit), verifiable offline."""
