import NIOCore
import NIOHTTP1

/// Raised into the connection's inbound stream when a request did not arrive complete in time.
struct RequestTimedOut: Error {}

/// Two rules of a connection, kept on its event loop where they cannot race with its reads and writes:
///
/// - **Request deadline** (slow or stuck clients, slowloris): from the connection's start, and again from each
///   response's end, the next request (headers and body) must be complete within `requestTimeout`. Otherwise
///   `RequestTimedOut` goes down the pipeline; the connection task answers 408 and closes. Bytes that never
///   make up a request head count too: the timer does not care what arrives, only whether a request ends.
/// - **Quiescing** (graceful shutdown, `ChannelShouldQuiesceEvent`): a connection waiting for a request is
///   closed now; one in the middle of a request gets its response with `connection: close`, then is closed.
final class ConnectionLifecycleHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let requestTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Requests received whole, and responses ended. Equal: the connection waits for a request (a client that
    /// pipelines may have sent the next one already; it is then complete and needs no deadline).
    private var requestsComplete = 0
    private var responsesEnded = 0
    /// A request head has arrived and its end has not.
    private var requestStarted = false
    private var timedOut = false
    private var quiescing = false

    init(requestTimeout: TimeAmount) { self.requestTimeout = requestTimeout }

    private var awaitingRequest: Bool { requestsComplete == responsesEnded }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armDeadline(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancelDeadline() }

    func channelActive(context: ChannelHandlerContext) {
        if deadline == nil { armDeadline(context: context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestStarted = true
        case .body:
            break
        case .end:
            requestStarted = false
            requestsComplete += 1
            cancelDeadline()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A parse error closes the connection (ByteToMessageHandler); no deadline is needed any more.
        if error is HTTPParserError { cancelDeadline() }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quiescing = true
        if awaitingRequest && !requestStarted { context.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where quiescing && head.status.code >= 200:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where quiescing:
            responsesEnded += 1
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.write(data).whenComplete { result in
                loopContext.value.close(promise: nil)
                promise?.completeWith(result)
            }
        case .end:
            responsesEnded += 1
            if awaitingRequest && !timedOut { armDeadline(context: context) }
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    private func armDeadline(context: ChannelHandlerContext) {
        cancelDeadline()
        let loopSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            loopSelf.value.deadlinePassed(context: loopContext.value)
        }
    }

    private func deadlinePassed(context: ChannelHandlerContext) {
        deadline = nil
        guard awaitingRequest, !timedOut else { return }
        timedOut = true
        context.fireErrorCaught(RequestTimedOut())
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }
}

@available(*, unavailable)
extension ConnectionLifecycleHandler: Sendable {}
