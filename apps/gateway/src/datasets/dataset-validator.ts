import { createHash, type Hash } from 'node:crypto';
import {
  datasetRecordSchemas,
  documentExternalId,
  type DatasetFormat,
  type ProblemFieldError,
} from '@tessera/contracts';
import { ProblemException } from '../common/problem.exception.js';
import { JsonlLineSplitter, LineTooLongError, type UploadLine } from './jsonl-lines.js';
import { parseRecordJson } from './record-json.js';

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

/** What an upload may hold; past any of these it is refused at once (413), the rest unread. */
export interface UploadLimits {
  maxLineBytes: number;
  maxDocumentBytes: number;
  maxDocuments: number;
  /** How many bad lines the 400 lists (all are counted). */
  maxProblems: number;
}

/** Records nest three levels at most (record → messages → message); deeper is refused before anything recurses. */
const MAX_RECORD_DEPTH = 8;

interface OpenDocument {
  hash: Hash;
  accessGroupId: string | null;
  records: number;
  tokens: number;
  bytes: number;
  firstLine: number;
}

/**
 * Checks a JSONL upload as it streams past, line by line: each line must be a record of
 * the dataset's format; `access_group` must name one of the tenant's groups; a document's
 * records must agree on their group. Bad lines are collected and reported by number and
 * reason; a line, document or document count past its limit throws a 413 on the spot, so
 * memory stays bounded by one line and the documents' summaries. Tokens are counted as the
 * demo model counts them (UTF-8 bytes of the text it trains on).
 */
export class DatasetValidator {
  private readonly lines: JsonlLineSplitter;
  private records = 0;
  private tokens = 0;
  private readonly documents = new Map<string, OpenDocument>();
  private readonly problems: ProblemFieldError[] = [];
  private problemCount = 0;

  constructor(
    private readonly format: DatasetFormat,
    /** Group id for a group's id or name, or null when the tenant has no such group. */
    private readonly resolveGroup: (idOrName: string) => string | null,
    private readonly limits: UploadLimits,
  ) {
    this.lines = new JsonlLineSplitter(limits.maxLineBytes);
  }

  push(chunk: Uint8Array): void {
    this.checkLines(() => this.lines.push(chunk));
  }

  finish(): ValidationSummary {
    this.checkLines(() => this.lines.finish());
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

  private checkLines(lines: () => Iterable<UploadLine>): void {
    try {
      for (const line of lines()) this.checkLine(line);
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      throw new ProblemException(
        'payload-too-large',
        `Line ${error.lineNumber} is longer than the limit of ${error.maxLineBytes} bytes a dataset line may hold; nothing was stored`,
        [{ field: `line ${error.lineNumber}`, message: `longer than ${error.maxLineBytes} bytes` }],
      );
    }
  }

  private checkLine({ number, text }: UploadLine): void {
    if (text.trim() === '') return;
    const json = parseRecordJson(text, MAX_RECORD_DEPTH);
    if (!json.ok) {
      if (json.reason === 'not-json') return this.problem(number, 'not valid JSON');
      if (json.reason === 'too-deep') return this.problem(number, `nested deeper than ${json.maxDepth} levels`);
      return this.problem(
        number,
        `the key ${JSON.stringify(json.key)} (at ${json.path}) is not allowed: it could reach an object's prototype`,
      );
    }
    const parsed = datasetRecordSchemas[this.format].safeParse(json.value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
      return this.problem(number, `not a ${this.format} record: ${where}${issue.message}`);
    }
    const record = parsed.data;
    let groupId: string | null = null;
    if (record.access_group !== undefined) {
      groupId = this.resolveGroup(record.access_group);
      if (!groupId)
        return this.problem(
          number,
          `access_group ${JSON.stringify(record.access_group)} is not a group of this tenant`,
        );
    }
    const externalId = documentExternalId(record.document_id, number);
    let document = this.documents.get(externalId);
    if (document && document.accessGroupId !== groupId) {
      return this.problem(
        number,
        `document ${JSON.stringify(externalId)} has records in different access groups (first on line ${document.firstLine})`,
      );
    }
    if (!document) {
      if (this.documents.size >= this.limits.maxDocuments)
        throw new ProblemException(
          'payload-too-large',
          `The upload holds more than the limit of ${this.limits.maxDocuments} documents (the next one starts on line ${number}); split it across datasets; nothing was stored`,
          [
            {
              field: `line ${number}`,
              message: `document ${this.limits.maxDocuments + 1} of at most ${this.limits.maxDocuments}`,
            },
          ],
        );
      document = {
        hash: createHash('sha256'),
        accessGroupId: groupId,
        records: 0,
        tokens: 0,
        bytes: 0,
        firstLine: number,
      };
      this.documents.set(externalId, document);
    }
    const line = `${text}\n`;
    document.bytes += Buffer.byteLength(line);
    if (document.bytes > this.limits.maxDocumentBytes)
      throw new ProblemException(
        'payload-too-large',
        `Document ${JSON.stringify(externalId)} passes the limit of ${this.limits.maxDocumentBytes} bytes a document may hold at line ${number}; nothing was stored`,
        [
          {
            field: `line ${number}`,
            message: `document ${JSON.stringify(externalId)} passes ${this.limits.maxDocumentBytes} bytes`,
          },
        ],
      );
    const tokens = Buffer.byteLength(trainedText(record));
    document.hash.update(line);
    document.records++;
    document.tokens += tokens;
    this.records++;
    this.tokens += tokens;
  }

  private problem(line: number, message: string): void {
    this.problemCount++;
    if (this.problems.length < this.limits.maxProblems)
      this.problems.push({ field: line ? `line ${line}` : 'body', message });
  }
}

function trainedText(record: Record<string, unknown>): string {
  if (typeof record.text === 'string') return record.text;
  if (typeof record.completion === 'string') return `${record.prompt as string}${record.completion}`;
  return (record.messages as { content: string }[]).map((m) => m.content).join('');
}
