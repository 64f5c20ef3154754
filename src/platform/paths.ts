import { fileURLToPath } from 'node:url';

// The build copies schema/ and migrations/ next to the compiled src/ (into
// dist/), so the same relative paths hold when running from source (tests)
// and from dist/ (npm start, Docker).
export const schemaDir = fileURLToPath(new URL('../../schema/', import.meta.url));
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));
