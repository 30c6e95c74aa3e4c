/**
 * Every layer's errors.ts follows one convention: a class per failure, `static name` and
 * `this.name` equal to the class name (callers match on it, minified or not), a default message
 * that says what happened, and a given message and `cause` kept as they are.
 */
import { describe, expect, it } from 'vitest'
import * as discovery from '../../src/discovery/errors.js'
import * as manifest from '../../src/manifest/errors.js'
import * as names from '../../src/names/errors.js'
import * as net from '../../src/net/errors.js'
import * as store from '../../src/store/errors.js'
import * as swarm from '../../src/swarm/errors.js'

type ErrorClass = new (...args: any[]) => Error
const layers: Record<string, Record<string, unknown>> = { discovery, manifest, names, net, store, swarm }
// Classes whose constructor takes more than a message: what to build them with.
const special: Record<string, () => Error> = {
  RemoteError: () => new swarm.RemoteError(0 as never, 'the peer said no'),
  LockedError: () => new store.LockedError('held by process 7', 7),
}

describe('errors.ts of every layer', () => {
  for (const [layer, exports] of Object.entries(layers)) {
    const classes = Object.entries(exports).filter(([, v]) => typeof v === 'function') as Array<[string, ErrorClass]>
    it(`${layer}: exports error classes only, each named after itself`, () => {
      expect(classes.length).toBeGreaterThan(0)
      expect(classes.length).toBe(Object.keys(exports).length)
      for (const [exported, Class] of classes) {
        const err = special[exported]?.() ?? new Class()
        expect(err).toBeInstanceOf(Error)
        expect(err).toBeInstanceOf(Class)
        expect(Class.name).toBe(exported)
        expect(err.name).toBe(exported)
        expect(err.message.length, `${exported} has no default message`).toBeGreaterThan(5)
        expect(String(err)).toMatch(new RegExp(`^${exported}: `))
      }
    })

    it(`${layer}: a given message and cause are kept`, () => {
      const cause = new Error('underneath')
      for (const [exported, Class] of classes) {
        if (special[exported] != null) continue
        const err = new Class('exactly this', { cause })
        expect(err.message).toBe('exactly this')
        expect(err.cause).toBe(cause)
      }
    })
  }

  it('keeps the subclass relation of NoFilesSelectedError', () => {
    expect(new manifest.NoFilesSelectedError()).toBeInstanceOf(manifest.InvalidManifestError)
  })

  it('the engine still finds DataDirInUseError where it imports it from', async () => {
    const dataDir = await import('../../src/store/data-dir.js')
    expect(dataDir.DataDirInUseError).toBe(store.DataDirInUseError)
  })
})
