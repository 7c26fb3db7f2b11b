import { createHash, type Hash } from 'node:crypto';
import {
  datasetRecordSchemas,
  documentExternalId,
  type DatasetFormat,
  type ProblemFieldError,
} from '@tessera/contracts';

/** What one document of an upload adds up to. */
export interface DocumentSummary {
  externalId: string;
  accessGroupId: string | null;
  contentHash: string;
  recordCount: number;
  tokenCount: number;
}

export interface ValidationSummary {
  records: number;
  tokens: number;
  documents: DocumentSummary[];
  /** The first problems found (at most the limit), and how many there were in all. */
  problems: ProblemFieldError[];
  problemCount: number;
}

interface OpenDocument {
  hash: Hash;
  accessGroupId: string | null;
  records: number;
  tokens: number;
  firstLine: number;
}

/**
 * Checks a JSONL upload as it streams past, line by line: each line must be a record of
 * the dataset's format; `access_group` must name one of the tenant's groups; a document's
 * records must agree on their group. Bad lines are reported by number and reason. Tokens
 * are counted as the demo model counts them (UTF-8 bytes of the text it trains on).
 */
export class DatasetValidator {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private pending = '';
  private line = 0;
  private records = 0;
  private tokens = 0;
  private readonly documents = new Map<string, OpenDocument>();
  private readonly problems: ProblemFieldError[] = [];
  private problemCount = 0;

  constructor(
    private readonly format: DatasetFormat,
    /** Group id for a group's id or name, or null when the tenant has no such group. */
    private readonly resolveGroup: (idOrName: string) => string | null,
    private readonly maxProblems: number,
  ) {}

  push(chunk: Uint8Array): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = this.pending.indexOf('\n')) >= 0) {
      this.checkLine(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
    }
  }

  finish(): ValidationSummary {
    this.pending += this.decoder.decode();
    if (this.pending.length) this.checkLine(this.pending);
    this.pending = '';
    if (this.records === 0 && this.problemCount === 0) this.problem(0, 'the upload has no records');
    return {
      records: this.records,
      tokens: this.tokens,
      documents: [...this.documents].map(([externalId, d]) => ({
        externalId,
        accessGroupId: d.accessGroupId,
        contentHash: d.hash.digest('hex'),
        recordCount: d.records,
        tokenCount: d.tokens,
      })),
      problems: this.problems,
      problemCount: this.problemCount,
    };
  }

  private checkLine(raw: string): void {
    this.line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.problem(this.line, 'not valid JSON');
    }
    const parsed = datasetRecordSchemas[this.format].safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
      return this.problem(this.line, `not a ${this.format} record: ${where}${issue.message}`);
    }
    const record = parsed.data;
    let groupId: string | null = null;
    if (record.access_group !== undefined) {
      groupId = this.resolveGroup(record.access_group);
      if (!groupId)
        return this.problem(
          this.line,
          `access_group ${JSON.stringify(record.access_group)} is not a group of this tenant`,
        );
    }
    const externalId = documentExternalId(record.document_id, this.line);
    let document = this.documents.get(externalId);
    if (document && document.accessGroupId !== groupId) {
      return this.problem(
        this.line,
        `document ${JSON.stringify(externalId)} has records in different access groups (first on line ${document.firstLine})`,
      );
    }
    if (!document) {
      document = { hash: createHash('sha256'), accessGroupId: groupId, records: 0, tokens: 0, firstLine: this.line };
      this.documents.set(externalId, document);
    }
    const tokens = Buffer.byteLength(trainedText(record));
    document.hash.update(`${text}\n`);
    document.records++;
    document.tokens += tokens;
    this.records++;
    this.tokens += tokens;
  }

  private problem(line: number, message: string): void {
    this.problemCount++;
    if (this.problems.length < this.maxProblems) this.problems.push({ field: line ? `line ${line}` : 'body', message });
  }
}

function trainedText(record: Record<string, unknown>): string {
  if (typeof record.text === 'string') return record.text;
  if (typeof record.completion === 'string') return `${record.prompt as string}${record.completion}`;
  return (record.messages as { content: string }[]).map((m) => m.content).join('');
}
