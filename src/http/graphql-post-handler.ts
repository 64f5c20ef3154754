import type http from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { BODY_REFUSALS, MAX_BODY, toHttpError, type HttpError } from '../platform/errors.js';
import { deepDocumentRefusal } from '../graphql/document-nesting-limit.js';

/**
 * The hot path of the subgraph: `POST /` with a plain JSON body, straight from
 * Node's `http` into Apollo Server, without Express' router and body parser
 * (about a tenth of a request's CPU when the answer is one customer; docs/benchmarks.md
 * "Serving speed"). `accepts` says which requests it takes; every other
 * request (other paths, encodings, charsets) goes through Express, which
 * answers the same way. Refusals are the same GraphQL-shaped JSON, and an
 * unexpected failure is reported to `onInternalError` and answered as a bare 500.
 */
export function createGraphQLPostHandler<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  context: (req: http.IncomingMessage) => Promise<TContext>,
  onInternalError: (error: unknown) => void,
) {
  const answer = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const body = await readJson(req);
    if ('refused' in body) {
      if (body.close) res.setHeader('connection', 'close');
      return send(res, body.refused);
    }
    const tooDeep = deepDocumentRefusal((body.json as { query?: unknown } | null)?.query);
    if (tooDeep) return send(res, tooDeep);
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search: '', body: body.json },
      context: () => context(req),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };

  return {
    accepts(req: http.IncomingMessage): boolean {
      if (req.method !== 'POST' || req.url !== '/' || req.headers['content-encoding'] !== undefined) return false;
      const type = req.headers['content-type']?.toLowerCase().replaceAll(' ', '');
      return type === 'application/json' || type === 'application/json;charset=utf-8';
    },

    /** Answers the request; never rejects. */
    handle(req: http.IncomingMessage, res: http.ServerResponse): void {
      answer(req, res).catch((error: unknown) => {
        // The client went away mid-request: nobody to answer, nothing wrong here (the access log says "request aborted").
        if (req.destroyed || res.destroyed) return void res.destroy();
        if (res.headersSent) return void res.end();
        send(res, toHttpError(error, onInternalError));
      });
    },
  };
}

/**
 * The request body as JSON, or the refusal Express' body parser would give
 * (docs/api.md "Errors"). A body over the limit is refused as soon as it passes
 * it; the connection is closed after the answer instead of reading the rest.
 */
function readJson(req: http.IncomingMessage): Promise<{ json: unknown } | { refused: HttpError; close?: true }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY.bytes) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd).pause();
      resolve({ refused: BODY_REFUSALS.tooLarge, close: true });
    };
    const onEnd = () => {
      try {
        resolve({ json: JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown });
      } catch {
        resolve({ refused: BODY_REFUSALS.notJson });
      }
    };
    req.on('data', onData).on('end', onEnd).once('error', reject);
    // A client that goes away before the end of its body: neither 'end' nor always 'error' follows.
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client closed the request before its body ended'));
    });
  });
}

function send(res: http.ServerResponse, refused: HttpError): void {
  res.statusCode = refused.status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(refused.body));
}
