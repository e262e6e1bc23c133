/** Writes docs/what-the-server-knows.md from the schema allow-list (npm run docs:server-knows). */
import { writeFileSync } from 'node:fs';
import { renderServerKnowledge } from '../packages/server/src/store/schema-doc.ts';

writeFileSync(new URL('../docs/what-the-server-knows.md', import.meta.url), renderServerKnowledge());
